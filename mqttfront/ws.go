package mqttfront

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

// wsMaxHeaderBytes bounds a WebSocket handshake's request headers (431
// beyond). A browser sends its cookies for the broker's host too, so it is
// larger than an MQTT client needs.
const wsMaxHeaderBytes = 32 << 10

// wsServer serves MQTT over WebSocket on the listener's path: subprotocol
// "mqtt" (or "mqttv3.1"), binary frames. The upgraded connection is wrapped
// as a stream so the same connection code serves it.
//
// The HTTP server's read, write and idle timeouts are connect_timeout: they
// bound the handshake (and TLS handshake) and a kept-alive connection that
// never upgrades. gorilla clears the deadlines once it has hijacked the
// connection, so an MQTT session then runs on its own keepalive and
// write_timeout deadlines, as over TCP.
func (s *Server) wsServer(name string, l ListenerConfig) *http.Server {
	up := websocket.Upgrader{
		Subprotocols:     []string{"mqtt", "mqttv3.1"},
		CheckOrigin:      func(*http.Request) bool { return true }, // checked before Upgrade, with a log line
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		HandshakeTimeout: s.cfg.ConnectTimeout,
	}
	origins := newOriginList(l.AllowedOrigins)
	mux := http.NewServeMux()
	mux.HandleFunc(l.Path, func(w http.ResponseWriter, r *http.Request) {
		if !origins.allowed(r) {
			s.stats.disconnects[ReasonOriginRejected].Add(1)
			s.logOriginRefused(name, r)
			http.Error(w, "websocket: Origin not allowed (mqtt.listeners."+name+".allowed_origins)", http.StatusForbidden)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered with an HTTP error
		}
		// The handler goroutine becomes the connection's reader; count it.
		s.runMu.Lock()
		ok := s.running && !s.closing.Load()
		if ok {
			s.wg.Add(1)
		}
		s.runMu.Unlock()
		if !ok {
			_ = ws.Close()
			return
		}
		defer s.wg.Done()
		s.serve(&wsConn{ws: ws}, name)
	})
	t := s.cfg.ConnectTimeout
	return &http.Server{Handler: mux, ReadHeaderTimeout: t, ReadTimeout: t, WriteTimeout: t, IdleTimeout: t,
		MaxHeaderBytes: wsMaxHeaderBytes, ErrorLog: zap.NewStdLog(s.log.Named("ws.http"))}
}

// originList is a WebSocket listener's allowed_origins (EMQX
// check_origins): a handshake without Origin (not a browser) is allowed;
// with one, it must be the listener's own origin (Origin's host[:port] =
// Host; the scheme is not compared, for TLS-terminating proxies) or listed.
// "*" allows any (EMQX's default check_origin_enable = false).
type originList struct {
	any  bool
	list map[string]bool // lowercased scheme://host[:port]
}

func newOriginList(origins []string) originList {
	o := originList{list: map[string]bool{}}
	for _, v := range origins {
		if v == "*" {
			o.any = true
		}
		o.list[strings.ToLower(strings.TrimSuffix(v, "/"))] = true
	}
	return o
}

func (o originList) allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || o.any || o.list[strings.ToLower(origin)] {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// logOriginRefused writes one line per refused handshake, rate-limited
// per remote host like the other per-client lines.
func (s *Server) logOriginRefused(listener string, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ce := s.log.Check(zap.InfoLevel, "mqtt: websocket handshake refused")
	if ce == nil {
		return
	}
	ok, n := s.logRate.allow("@" + host)
	if !ok {
		return
	}
	fields := []zap.Field{zap.String("listener", listener), zap.String("reason", ReasonOriginRejected.String()),
		zap.String("origin", r.Header.Get("Origin")), zap.String("host", r.Host), zap.String("remote", r.RemoteAddr)}
	if n > 0 {
		fields = append(fields, zap.Int("suppressed", n))
	}
	ce.Write(fields...)
}

// wsConn adapts a websocket connection to net.Conn: reads concatenate the
// payloads of binary messages, each Write is one binary message.
type wsConn struct {
	ws  *websocket.Conn
	r   io.Reader
	wmu sync.Mutex
}

var _ net.Conn = (*wsConn)(nil)

func (c *wsConn) Read(b []byte) (int, error) {
	for {
		if c.r == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				_ = c.ws.Close()
				return 0, io.ErrUnexpectedEOF // [MQTT-6.0.0-1] only binary frames
			}
			c.r = r
		}
		n, err := c.r.Read(b)
		if err == io.EOF {
			c.r = nil
			if n == 0 {
				continue
			}
			return n, nil
		}
		return n, err
	}
}

func (c *wsConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *wsConn) Close() error                       { return c.ws.Close() }
func (c *wsConn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }
func (c *wsConn) SetDeadline(t time.Time) error {
	_ = c.ws.SetReadDeadline(t)
	return c.ws.SetWriteDeadline(t)
}
