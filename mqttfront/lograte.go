package mqttfront

import (
	"container/list"
	"hash/maphash"
	"net"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Per-client log rate limit: a device that reconnects in a loop with a bad
// password or sends garbage must not flood the log. Counters are not
// affected; only log lines are suppressed.
const (
	logRateLines  = 10          // lines per key and window
	logRateWindow = time.Minute // window length, started by the first line
	logRateKeys   = 10000       // keys remembered (least recently used evicted)
)

// logLimiter allows at most lines log lines per key in each window. The
// key is a client id, or the remote host before an id is known. Its state is
// a bounded LRU map, so a flood of distinct ids costs at most keys entries;
// an evicted key starts afresh (its suppressed count is lost).
type logLimiter struct {
	lines  int
	window time.Duration
	keys   int
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // of *logBucket
	lru     list.List                // front = most recently used
}

type logBucket struct {
	key        string
	start      time.Time // the window's start
	n          int       // lines written in the window
	suppressed int       // lines dropped since the last one written
}

func newLogLimiter(lines int, window time.Duration, keys int) *logLimiter {
	return &logLimiter{lines: lines, window: window, keys: keys, now: time.Now, entries: map[string]*list.Element{}}
}

// allow reports whether a line for key may be written. When it may, it also
// returns how many lines for key were suppressed since the last one written.
func (l *logLimiter) allow(key string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, found := l.entries[key]
	if !found {
		if l.lru.Len() >= l.keys {
			old := l.lru.Back()
			delete(l.entries, old.Value.(*logBucket).key)
			l.lru.Remove(old)
		}
		l.entries[key] = l.lru.PushFront(&logBucket{key: key, start: now, n: 1})
		return true, 0
	}
	l.lru.MoveToFront(e)
	b := e.Value.(*logBucket)
	if now.Sub(b.start) >= l.window {
		b.start, b.n = now, 0
	}
	if b.n >= l.lines {
		b.suppressed++
		return false, 0
	}
	b.n++
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}

// logClient writes a per-client line (disconnects, refused connects, denied
// publishes and subscribes) through the limiter. A line written after some
// were suppressed carries "suppressed": the number dropped for that key.
func (s *Server) logClient(lvl zapcore.Level, c *conn, msg string, fields ...zap.Field) {
	s.logKeyed(lvl, c.logKey(), msg, fields...)
}

// logKeyed is logClient for a line keyed by a client id without a
// connection at hand (an offline session's delivery).
func (s *Server) logKeyed(lvl zapcore.Level, key, msg string, fields ...zap.Field) {
	ce := s.log.Check(lvl, msg)
	if ce == nil {
		return
	}
	ok, n := s.logRate.allow(key)
	if !ok {
		return
	}
	if n > 0 {
		fields = append(fields, zap.Int("suppressed", n))
	}
	ce.Write(fields...)
}

// logKeyMax bounds the bytes of a limiter key: the limiter remembers
// logRateKeys keys, including the client ids of refused CONNECTs, and a
// client id may be 65535 bytes (10,000 of them would be 655 MB).
const logKeyMax = 64

var logKeySeed = maphash.MakeSeed()

// logKey is the limiter's key for c: its client id, or its remote host while
// no id is known (a malformed or refused CONNECT). A client id longer than
// logKeyMax becomes its first bytes and a hash of the whole, in a new
// string (a slice would keep the whole id alive).
func (c *conn) logKey() string {
	if id := c.clientID; len(id) > logKeyMax {
		return id[:logKeyMax-17] + "~" + strconv.FormatUint(maphash.String(logKeySeed, id), 16)
	} else if id != "" {
		return id
	}
	addr := c.nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return "@" + addr
}
