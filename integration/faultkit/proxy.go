package faultkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a TCP proxy that can hang: on Hang it stops forwarding bytes in
// both directions without closing anything, and holds new connections open
// but silent, the way a broker behind a black-holing network looks to a
// client. Resume lets everything that was held through. EOFs are held too,
// so a hung peer sees neither data nor a close. With several targets
// (NewRoundRobinProxy) it is also a round-robin load balancer: each new
// connection goes to the next target that accepts a dial, the way HAProxy
// in TCP mode with redispatch does.
type Proxy struct {
	ln        net.Listener
	targets   []string
	next      atomic.Uint64  // round-robin position
	perTarget []atomic.Int64 // connections forwarded to each target

	mu    sync.Mutex
	open  chan struct{} // closed while forwarding; a fresh one while hung
	conns map[net.Conn]struct{}

	accepted  atomic.Int64
	forwarded atomic.Int64
}

// NewProxy returns a proxy that accepts on ln and forwards to target
// (host:port). It starts nothing; Run serves.
func NewProxy(ln net.Listener, target string) *Proxy {
	return NewRoundRobinProxy(ln, []string{target})
}

// NewRoundRobinProxy returns a proxy that accepts on ln and forwards each
// new connection to the next of targets in turn; a target that refuses
// the dial is skipped for that connection (the next one is tried, each at
// most once), so a stopped replica behind it costs a client nothing but
// a redial. It starts nothing; Run serves.
func NewRoundRobinProxy(ln net.Listener, targets []string) *Proxy {
	open := make(chan struct{})
	close(open)
	return &Proxy{ln: ln, targets: append([]string(nil), targets...), perTarget: make([]atomic.Int64, len(targets)),
		open: open, conns: map[net.Conn]struct{}{}}
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// Hang stops forwarding. Idempotent.
func (p *Proxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

// Resume forwards again, starting with whatever was held. Idempotent.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// Hung reports whether the proxy is hanging.
func (p *Proxy) Hung() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		return false
	default:
		return true
	}
}

// Stats returns the connections accepted and the bytes forwarded so far.
func (p *Proxy) Stats() (accepted, forwarded int64) {
	return p.accepted.Load(), p.forwarded.Load()
}

// PerTarget returns how many connections went to each target, in the
// order NewRoundRobinProxy was given them.
func (p *Proxy) PerTarget() []int64 {
	out := make([]int64, len(p.perTarget))
	for i := range p.perTarget {
		out[i] = p.perTarget[i].Load()
	}
	return out
}

// dial connects to the next target in turn that accepts, trying each at
// most once.
func (p *Proxy) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	start := p.next.Add(1) - 1
	var err error
	for i := range uint64(len(p.targets)) {
		n := int((start + i) % uint64(len(p.targets)))
		var c net.Conn
		if c, err = d.DialContext(ctx, "tcp", p.targets[n]); err == nil {
			p.perTarget[n].Add(1)
			return c, nil
		}
	}
	return nil, err
}

// pass waits until the proxy forwards or ctx ends, and reports which.
func (p *Proxy) pass(ctx context.Context) bool {
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	select {
	case <-open:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// Run accepts and forwards until ctx ends, then closes the listener and
// every connection and returns once all its goroutines have ended. It
// returns nil after ctx ends, or the listener's error.
func (p *Proxy) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { _ = p.ln.Close() })
	defer stop()
	var err error
	for {
		c, aerr := p.ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("proxy accept: %w", aerr)
			}
			break
		}
		p.accepted.Add(1)
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		wg.Go(func() { p.serve(ctx, c) })
	}
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	wg.Wait()
	return err
}

// serve forwards one client connection; while hung it does not even dial.
func (p *Proxy) serve(ctx context.Context, client net.Conn) {
	defer p.untrack(client)
	defer client.Close()
	if !p.pass(ctx) {
		return
	}
	server, err := p.dial(ctx)
	if err != nil {
		return
	}
	if !p.track(server) {
		_ = server.Close()
		return
	}
	defer p.untrack(server)
	defer server.Close()
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(ctx, server, client) })
	wg.Go(func() { p.pipe(ctx, client, server) })
	wg.Wait()
}

// pipe copies src to dst, holding each chunk (and the final EOF) while hung.
func (p *Proxy) pipe(ctx context.Context, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, rerr := src.Read(buf)
		if !p.pass(ctx) {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				_ = src.Close()
				return
			}
			p.forwarded.Add(int64(n))
		}
		if rerr != nil {
			// A clean EOF is passed on as a half close, so the other
			// direction can still finish; anything else closes both.
			if tc, ok := dst.(*net.TCPConn); ok && errors.Is(rerr, io.EOF) {
				_ = tc.CloseWrite()
				return
			}
			_ = dst.Close()
			return
		}
	}
}
