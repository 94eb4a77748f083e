package bridge

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

// TestKafkaProbe: the probe reports unknown before its first round, then
// whether any server accepts, and follows a server going away and coming
// back on the same address.
func TestKafkaProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	accept := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}
	go accept(ln)

	// A dead address first: the second one decides.
	p := newKafkaProbe([]string{"127.0.0.1:1", addr})
	p.interval = 10 * time.Millisecond
	if _, known := p.Reachable(); known {
		t.Fatal("Reachable known before the first round")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	reach := func(want bool) func() bool {
		return func() bool { ok, known := p.Reachable(); return known && ok == want }
	}
	testkit.WaitFor(t, 5*time.Second, "Kafka reachable", reach(true))
	_ = ln.Close()
	testkit.WaitFor(t, 5*time.Second, "Kafka unreachable", reach(false))
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer ln2.Close()
	go accept(ln2)
	testkit.WaitFor(t, 5*time.Second, "Kafka reachable", reach(true))
}
