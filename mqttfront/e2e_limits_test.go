package mqttfront_test

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestE2EPublishRateLimit: a client over max_publish_rate is slowed down,
// not dropped: every message arrives, later.
func TestE2EPublishRateLimit(t *testing.T) {
	const rate, n = 20, 60
	_, addr := startServer(t, func(c *mqttfront.Config) { setOpt(t, c, "max_publish_rate", rate) }, nil)
	var in inbox
	sub := connectV3(t, v3Opts(t, addr))
	subV3(t, sub, "rate/t", 0, &in)
	pub := connectV3(t, v3Opts(t, addr))
	start := time.Now()
	toks := make([]mqtt.Token, n)
	for i := range n {
		toks[i] = pub.Publish("rate/t", 0, false, strconv.Itoa(i))
	}
	for _, tok := range toks {
		waitTok(t, tok, "publish")
	}
	got := in.waitN(t, n)
	took := time.Since(start)
	if len(got) != n {
		t.Errorf("%d messages arrived; want all %d", len(got), n)
	}
	// n messages at rate/s take at least (n - burst)/rate; allow a burst
	// of one second's worth.
	if minDur := time.Duration(n-rate) * time.Second / rate; took < minDur*8/10 {
		t.Errorf("%d messages at max_publish_rate=%d/s took %v; want >= %v", n, rate, took, minDur)
	}
}

// TestE2ESlowConsumer: a subscriber that never reads is disconnected or has
// messages dropped, and does not block the publisher or other subscribers.
func TestE2ESlowConsumer(t *testing.T) {
	srv, addr := startServer(t, func(c *mqttfront.Config) {
		setOpt(t, c, "max_queued_messages", 10)
		setOpt(t, c, "max_queued_bytes", 64*1024)
		setOpt(t, c, "write_timeout", 500*time.Millisecond)
	}, nil)
	slow := dialRaw(t, addr)
	if tc, ok := slow.c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	slow.connectOK(rawConnect{level: 4, clientID: clientID(t, "slow"), clean: true, keepAlive: 60})
	slow.send(rawSubscribe(false, 1, "slow/#", 0))
	slow.expect(9) // SUBACK; from now on the slow client reads nothing

	var fast inbox
	fc := connectV3(t, v3Opts(t, addr))
	subV3(t, fc, "slow/#", 0, &fast)

	const n, size = 2000, 8 * 1024 // 16 MB: far beyond socket buffers
	payload := bytes.Repeat([]byte("x"), size)
	pub := connectV3(t, v3Opts(t, addr))
	start := time.Now()
	for i := range n {
		tok := pub.Publish("slow/t", 0, false, payload)
		if !tok.WaitTimeout(e2eTimeout) {
			t.Fatalf("publish %d blocked for %v behind a slow consumer", i, e2eTimeout)
		}
	}
	pubV3(t, pub, "slow/end", 1, false, "end")
	fast.waitMsg(t, "slow/end", "end")
	t.Logf("published %d x %d bytes in %v; fast subscriber got %d", n, size, time.Since(start), fast.len())

	// Now drain the slow socket: it must have lost messages or the
	// connection (or both).
	got, closed := 0, false
	for {
		p, err := slow.read(2 * time.Second)
		if err != nil {
			var ne net.Error
			closed = !(errors.As(err, &ne) && ne.Timeout())
			break
		}
		if p.typ() == 3 {
			got++
		}
	}
	if got >= n {
		t.Errorf("slow consumer received all %d messages; want drops or a disconnect", got)
	}
	st := srv.Stats()
	t.Logf("slow consumer: %d of %d delivered, closed=%v, drops=%v disconnects=%v", got, n, closed, st.Drops, st.Disconnects)
}
