package faultkit

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, c); _ = c.Close() })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func startProxy(t *testing.T, target string) *Proxy {
	return startRoundRobin(t, target)
}

func startRoundRobin(t *testing.T, targets ...string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := NewRoundRobinProxy(ln, targets)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Proxy.Run = %v; want nil after cancel", err)
		}
	})
	return p
}

// roundTrip writes msg and reads len(msg) bytes back within d; ok false on
// a timeout (the connection stays open).
func roundTrip(t *testing.T, c net.Conn, msg string, d time.Duration) (string, bool) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, len(msg))
	n, err := io.ReadFull(c, buf)
	_ = c.SetReadDeadline(time.Time{})
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return string(buf[:n]), false
	}
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf), true
}

func TestProxyHangAndResume(t *testing.T) {
	p := startProxy(t, echoServer(t))
	a, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got, ok := roundTrip(t, a, "hello", 5*time.Second); !ok || got != "hello" {
		t.Fatalf("before hang: got %q, %v; want hello", got, ok)
	}

	p.Hang()
	if !p.Hung() {
		t.Fatal("Hung() = false after Hang")
	}
	if got, ok := roundTrip(t, a, "held", 300*time.Millisecond); ok {
		t.Fatalf("while hung an existing connection echoed %q; want silence", got)
	}
	// A new connection is accepted but silent, and not closed.
	b, err := net.DialTimeout("tcp", p.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial while hung: %v", err)
	}
	defer b.Close()
	if got, ok := roundTrip(t, b, "new", 300*time.Millisecond); ok {
		t.Fatalf("while hung a new connection echoed %q; want silence", got)
	}

	p.Resume()
	buf := make([]byte, 4)
	_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after resume the held bytes: %q, %v; want held", buf, err)
	}
	buf = buf[:3]
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "new" {
		t.Fatalf("after resume the new connection: %q, %v; want new", buf, err)
	}
	if acc, fwd := p.Stats(); acc != 2 || fwd == 0 {
		t.Errorf("Stats() = %d accepted, %d bytes; want 2 accepted and some bytes", acc, fwd)
	}
}

func TestProxyPassesClose(t *testing.T) {
	p := startProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := roundTrip(t, c, "x", 5*time.Second); !ok {
		t.Fatal("no echo")
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after half close: Read = %d, %v; want EOF passed back through the proxy", n, err)
	}
}

// namedServer writes name to every connection it accepts and closes it.
func namedServer(t *testing.T, name string) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(name))
			_ = c.Close()
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { _ = ln.Close(); wg.Wait() }) }
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// whoAnswers dials the proxy and returns the name its target wrote.
func whoAnswers(t *testing.T, p *Proxy) string {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read through the proxy: %v", err)
	}
	return string(b)
}

// TestProxyRoundRobin: connections go to the targets in turn; a target
// that refuses the dial is skipped, and taken again once it is back.
func TestProxyRoundRobin(t *testing.T) {
	a, _ := namedServer(t, "a")
	b, stopB := namedServer(t, "b")
	c, _ := namedServer(t, "c")
	p := startRoundRobin(t, a, b, c)
	var got string
	for range 6 {
		got += whoAnswers(t, p)
	}
	if got != "abcabc" {
		t.Fatalf("6 connections went to %q; want abcabc", got)
	}
	stopB()
	got = ""
	for range 4 {
		got += whoAnswers(t, p)
	}
	// Turns: a, b (refused: c), c, a.
	if got != "acca" {
		t.Errorf("with b stopped 4 connections went to %q; want acca (b's turn passed to c)", got)
	}
	if n := p.PerTarget(); n[0] != 4 || n[1] != 2 || n[2] != 4 {
		t.Errorf("PerTarget() = %v; want [4 2 4]", n)
	}
}
