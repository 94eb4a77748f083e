package benchkit

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ConnConfig is the `conn` mode: Conns idle MQTT 3.1.1 connections, opened
// with a minimal hand-written client (one socket and one goroutine each, so
// the tool itself stays small at 10k+ connections) that sends PINGREQ every
// KeepAlive. PersistentFraction of them connect with clean session false.
type ConnConfig struct {
	Addr               string
	Conns              int
	ConnectRate        float64 // connections/s, 0 = unlimited (64 in parallel)
	KeepAlive          time.Duration
	Hold               time.Duration // how long to keep them all open before measuring RSS again
	PersistentFraction float64
	ClientPrefix       string
	SourceIPs          []net.IP
	PID                int           // target process for VmRSS, 0 = none
	Reconnect          bool          // after Hold, drop all and reconnect them; measures recovery
	ReconnectWithin    time.Duration // spread the reconnects over this time
}

// ConnSummary is what `conn` measured.
type ConnSummary struct {
	Connected       int               `json:"connected"`
	ConnectSeconds  float64           `json:"connect_seconds"`
	ConnectPerSec   float64           `json:"connect_per_sec"`
	Connack         Quantiles         `json:"connack_latency"`
	RSSBeforeKB     int64             `json:"rss_before_kb,omitempty"`
	RSSAfterKB      int64             `json:"rss_after_kb,omitempty"`
	BytesPerConn    float64           `json:"bytes_per_conn,omitempty"`
	Reconnected     int               `json:"reconnected,omitempty"`
	RecoverySeconds float64           `json:"recovery_seconds,omitempty"`
	Errors          map[string]uint64 `json:"errors"`
}

// ReadRSS returns VmRSS of pid in KiB from /proc/pid/status.
func ReadRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// connectPacket encodes an MQTT 3.1.1 CONNECT with only a client id.
func connectPacket(id string, clean bool, keepAlive time.Duration) []byte {
	var flags byte
	if clean {
		flags |= 0x02 // [MQTT-3.1.2-6] clean session
	}
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 0}
	binary.BigEndian.PutUint16(vh[8:], uint16(keepAlive/time.Second))
	body := append(vh, byte(len(id)>>8), byte(len(id)))
	body = append(body, id...)
	pkt := []byte{0x10}
	for l := len(body); ; {
		b := byte(l % 128)
		l /= 128
		if l > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if l == 0 {
			break
		}
	}
	return append(pkt, body...)
}

type idleConn struct {
	c    net.Conn
	done chan struct{}
}

// dialIdle connects, sends CONNECT and waits for a CONNACK with return code 0.
func dialIdle(cfg ConnConfig, i int) (net.Conn, error) {
	c, err := dialerFor(cfg.SourceIPs, i, 30*time.Second).Dial("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	clean := float64(i%100) >= cfg.PersistentFraction*100
	id := fmt.Sprintf("%s%d", cfg.ClientPrefix, i)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(connectPacket(id, clean, cfg.KeepAlive)); err != nil {
		c.Close()
		return nil, err
	}
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		c.Close()
		return nil, err
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("connack %x", ack)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// keep sends PINGREQ every keepalive and discards what it reads.
func (ic *idleConn) keep(ctx context.Context, keepAlive time.Duration) {
	defer close(ic.done)
	stop := context.AfterFunc(ctx, func() { ic.c.Close() })
	defer stop()
	go func() { _, _ = io.Copy(io.Discard, ic.c) }() // ends when the socket closes
	t := time.NewTicker(keepAlive / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := ic.c.Write([]byte{0xC0, 0}); err != nil {
				return
			}
		}
	}
}

// openAll opens cfg.Conns connections and returns them with the time taken.
func openAll(ctx context.Context, cfg ConnConfig, hist *Hist, errs *Errors, spread time.Duration) ([]*idleConn, time.Duration) {
	conns := make([]*idleConn, cfg.Conns)
	rate := cfg.ConnectRate
	if spread > 0 {
		rate = float64(cfg.Conns) / spread.Seconds()
	}
	idx := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < min(64, cfg.Conns); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				t0 := time.Now()
				c, err := dialIdle(cfg, i)
				if err != nil {
					errs.Add(reason(err))
					continue
				}
				hist.RecordDuration(time.Since(t0))
				ic := &idleConn{c: c, done: make(chan struct{})}
				conns[i] = ic
				go ic.keep(ctx, cfg.KeepAlive)
			}
		}()
	}
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
feed:
	for i := 0; i < cfg.Conns; i++ {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	wg.Wait()
	return conns, time.Since(start)
}

func closeAll(conns []*idleConn) {
	for _, c := range conns {
		if c != nil {
			c.c.Close()
		}
	}
	for _, c := range conns {
		if c != nil {
			<-c.done
		}
	}
}

func countOpen(conns []*idleConn) int {
	n := 0
	for _, c := range conns {
		if c != nil {
			n++
		}
	}
	return n
}

// RunConn runs the conn mode.
func RunConn(ctx context.Context, cfg ConnConfig, progressW io.Writer) (*Summary, error) {
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 60 * time.Second
	}
	if cfg.ClientPrefix == "" {
		cfg.ClientPrefix = "idle"
	}
	sum := &Summary{Mode: "conn", Started: time.Now(), Config: cfg}
	cs := &ConnSummary{}
	var errs Errors
	var hist Hist
	if cfg.PID > 0 {
		rss, err := ReadRSS(cfg.PID)
		if err != nil {
			return nil, fmt.Errorf("rss: %w", err)
		}
		cs.RSSBeforeKB = rss
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopProgress := progress(ctx, progressW, func(el time.Duration) string {
		return fmt.Sprintf("%5s connack p99 %7.2fms connected ~%d errors %d", el, float64(hist.Quantile(0.99))/1e6, hist.Count(), errs.Total())
	})
	defer stopProgress()
	conns, took := openAll(cctx, cfg, &hist, &errs, 0)
	cs.Connected = countOpen(conns)
	cs.ConnectSeconds = took.Seconds()
	cs.ConnectPerSec = float64(cs.Connected) / took.Seconds()
	cs.Connack = hist.Summary()
	sum.Window = took.Seconds()
	select {
	case <-ctx.Done():
	case <-time.After(cfg.Hold):
	}
	if cfg.PID > 0 {
		if rss, err := ReadRSS(cfg.PID); err == nil {
			cs.RSSAfterKB = rss
			if cs.Connected > 0 {
				cs.BytesPerConn = float64(rss-cs.RSSBeforeKB) * 1024 / float64(cs.Connected)
			}
		}
	}
	if cfg.Reconnect && ctx.Err() == nil {
		closeAll(conns)
		var h2 Hist
		conns2, took2 := openAll(cctx, cfg, &h2, &errs, cfg.ReconnectWithin)
		cs.Reconnected = countOpen(conns2)
		cs.RecoverySeconds = took2.Seconds()
		conns = conns2
	}
	cancel()
	closeAll(conns)
	cs.Errors = errs.Snapshot()
	sum.Conn = cs
	return sum, nil
}
