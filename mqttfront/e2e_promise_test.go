package mqttfront_test

// The bridge's promise: a device's QoS 1/2 publish is acknowledged only once
// the sink has made it durable, acks leave in arrival order, and sink
// failures are reported (v5) or withheld (v3).

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

func TestE2EPromisePahoTokenWaitsForSink(t *testing.T) {
	sink := newHoldingSink()
	_, addr := startServer(t, nil, sink)
	c := connectV3(t, v3Opts(t, addr))
	for _, qos := range []byte{1, 2} {
		before := sink.Pending()
		tok := c.Publish(fmt.Sprintf("promise/q%d", qos), qos, false, "p")
		waitFor(t, e2eTimeout, "the sink to hold the message", func() bool { return sink.Pending() == before+1 })
		// Give a broker that acks early the chance to show it.
		if tok.WaitTimeout(300 * time.Millisecond) {
			t.Fatalf("QoS %d token completed before the sink confirmed", qos)
		}
		sink.Confirm(before, nil)
		waitTok(t, tok, "publish after confirm")
	}
}

// TestE2EPromiseAckOrder confirms out of order and expects acks in arrival
// order [MQTT-4.6.0-2], for PUBACK (QoS 1) and PUBREC (QoS 2).
func TestE2EPromiseAckOrder(t *testing.T) {
	for _, tc := range []struct {
		qos     byte
		ackType packets.Type
	}{{1, packets.PUBACK}, {2, packets.PUBREC}} {
		t.Run(fmt.Sprintf("qos%d", tc.qos), func(t *testing.T) {
			sink := newHoldingSink()
			_, addr := startServer(t, nil, sink)
			rc := mqttwire.Dial(t, addr, packets.V311)
			rc.ConnectOK(clientID(t, "ord"))
			const n = 5
			for id := uint16(1); id <= n; id++ {
				rc.Send(mqttwire.Publish("ord/t", string([]byte{byte(id)}), tc.qos, id))
			}
			waitFor(t, e2eTimeout, "5 held messages", func() bool { return sink.Pending() == n })

			sink.Confirm(3, nil) // id 4
			sink.Confirm(1, nil) // id 2
			if f, err := rc.ReadFrame(300 * time.Millisecond); err == nil {
				t.Fatalf("got %v (% X) while id 1 is unconfirmed; want nothing", f.Type(), f)
			}
			sink.Confirm(0, nil) // id 1: releases 1 and 2
			sink.Confirm(4, nil) // id 5
			sink.Confirm(2, nil) // id 3: releases 3, 4, 5
			for want := uint16(1); want <= n; want++ {
				p := rc.Expect(tc.ackType)
				if got := p.PacketID; got != want {
					t.Fatalf("ack %d has packet id %d; want %d (arrival order)", want, got, want)
				}
			}
		})
	}
}

func TestE2EPromiseSinkErrorV5(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want byte
	}{
		{"quota exceeded", fmt.Errorf("kafka full: %w", packets.QuotaExceeded), 0x97},
		{"plain error", errors.New("boom"), 0x80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startServer(t, nil, newFailingSink(tc.err))
			c := connectV5(t, addr, v5Config{})
			for _, qos := range []byte{1, 2} {
				pr, err := c.pub(&paho.Publish{Topic: "fail/t", QoS: qos, Payload: []byte("x")})
				if pr == nil || pr.ReasonCode != tc.want {
					t.Errorf("QoS %d: response %+v err %v; want reason 0x%02X", qos, pr, err, tc.want)
				}
			}
		})
	}
}

// TestE2EPromiseSinkErrorV3 closes a v3 connection without the ack.
func TestE2EPromiseSinkErrorV3(t *testing.T) {
	_, addr := startServer(t, nil, newFailingSink(errors.New("boom")))
	rc := mqttwire.Dial(t, addr, packets.V311)
	rc.ConnectOK(clientID(t, "f3"))
	rc.Send(mqttwire.Publish("fail/v3", "x", 1, 7))
	for {
		f, err := rc.ReadFrame(e2eTimeout)
		if err != nil {
			break // closed: the device will resend
		}
		if f.Type() == packets.PUBACK {
			t.Fatalf("v3 PUBACK sent for a message the sink failed")
		}
	}
}

func TestE2EPromisePublishAPI(t *testing.T) {
	srv, addr := startServer(t, nil, nil)
	publish := func(m *mqttfront.Message) error {
		done := make(chan error, 1)
		srv.Publish(m, func(err error) { done <- err })
		select {
		case err := <-done:
			return err
		case <-time.After(e2eTimeout):
			t.Fatalf("Publish done not called within %v", e2eTimeout)
			return nil
		}
	}

	t.Run("online subscriber", func(t *testing.T) {
		var in inbox
		c := connectV3(t, v3Opts(t, addr))
		subV3(t, c, "dl/t", 1, &in)
		if err := publish(&mqttfront.Message{Topic: "dl/t", Payload: []byte("down"), QoS: 1}); err != nil {
			t.Fatalf("done(%v); want nil", err)
		}
		in.waitMsg(t, "dl/t", "down")
		if m := in.onTopic("dl/t")[0]; m.QoS != 1 {
			t.Errorf("delivered QoS %d; want 1", m.QoS)
		}
	})
	t.Run("no subscribers", func(t *testing.T) {
		if err := publish(&mqttfront.Message{Topic: "dl/nobody", Payload: []byte("x"), QoS: 1}); err != nil {
			t.Fatalf("done(%v); want nil", err)
		}
	})
	t.Run("retained", func(t *testing.T) {
		if err := publish(&mqttfront.Message{Topic: "dl/ret", Payload: []byte("r"), QoS: 1, Retain: true}); err != nil {
			t.Fatal(err)
		}
		c := connectV5(t, addr, v5Config{})
		c.subOK(t, "dl/ret", 1)
		c.inbox.waitMsg(t, "dl/ret", "r")
	})
	t.Run("offline persistent session", func(t *testing.T) {
		id := clientID(t, "off")
		c := connectV5(t, addr, persistentV5(id))
		c.subOK(t, "dl/off", 1)
		c.close()
		if err := publish(&mqttfront.Message{Topic: "dl/off", Payload: []byte("queued"), QoS: 1}); err != nil {
			t.Fatalf("done(%v) for an offline session; want nil after durable queueing", err)
		}
		c2 := connectV5(t, addr, persistentV5(id))
		c2.inbox.waitMsg(t, "dl/off", "queued")
	})
}

func TestE2EPromisePublishQueueFull(t *testing.T) {
	srv, addr := startServer(t, func(c *mqttfront.Config) { testkit.Set(t, c, "max_queued_messages", 2) }, nil)
	id := clientID(t, "full")
	c := connectV5(t, addr, persistentV5(id))
	c.subOK(t, "dlf/t", 1)
	c.close()
	waitConns(t, srv, 0)
	var errs []error
	for i := range 3 {
		done := make(chan error, 1)
		srv.Publish(&mqttfront.Message{Topic: "dlf/t", Payload: []byte{byte(i)}, QoS: 1}, func(err error) { done <- err })
		select {
		case err := <-done:
			errs = append(errs, err)
		case <-time.After(e2eTimeout):
			t.Fatal("Publish done not called")
		}
	}
	if errs[0] != nil || errs[1] != nil || errs[2] == nil {
		t.Errorf("done errors %v; want nil, nil, then an error (queue full)", errs)
	}
}
