package mqttfront

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// TestConnackBytes compares the exact CONNACK bytes per version.
func TestConnackBytes(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	tests := []struct {
		name    string
		connect []byte
		want    []byte
	}{
		{"v3.1.1 accepted", []byte{
			0x10, 13, // CONNECT, remaining length
			0, 4, 'M', 'Q', 'T', 'T', // protocol name
			4,     // level 3.1.1
			0x02,  // clean session
			0, 60, // keepalive
			0, 1, 'a', // client id
		}, []byte{0x20, 2, 0, 0}}, // [MQTT-3.2.2-1] session present 0, accepted
		{"v3.1 accepted", []byte{
			0x12 &^ 0x02, 15,
			0, 6, 'M', 'Q', 'I', 's', 'd', 'p',
			3, 0x02, 0, 60,
			0, 1, 'b',
		}, []byte{0x20, 2, 0, 0}},
		{"unsupported level", []byte{
			0x10, 13,
			0, 4, 'M', 'Q', 'T', 'T',
			9, 0x02, 0, 60,
			0, 1, 'c',
		}, []byte{0x20, 2, 0, 0x01}}, // [MQTT-3.1.2-2] 0x01 then close
		{"v3.1.1 empty id without clean session", []byte{
			0x10, 12,
			0, 4, 'M', 'Q', 'T', 'T',
			4, 0x00, 0, 60,
			0, 0,
		}, []byte{0x20, 2, 0, 0x02}}, // [MQTT-3.1.3-8]
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mqttwire.Dial(t, ts.addr, packets.V311)
			w.SendRaw(tt.connect)
			got, err := w.ReadFrame(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("CONNACK = % x; want % x", got, tt.want)
			}
		})
	}
}

func TestConnackV5Properties(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	ack := w.Connect("", func(p *packets.Packet) { p.Connect.KeepAlive = 0 })
	pr := ack.Properties
	if ack.ReasonCode != 0 || pr.ReceiveMaximum != 128 || pr.MaximumPacketSize != 1<<20 || pr.TopicAliasMaximum != 64 {
		t.Errorf("CONNACK %+v; want success, Receive Maximum 128, Maximum Packet Size 1 MiB, Topic Alias Maximum 64", ack)
	}
	if pr.AssignedClientID == "" {
		t.Errorf("no Assigned Client Identifier for an empty client id [MQTT-3.2.2-16]")
	}
	if !pr.SubIDAvailableSet || pr.SubIDAvailable != 1 {
		t.Errorf("Subscription Identifiers Available not advertised")
	}
}

func TestFirstPacketMustBeConnect(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	w := mqttwire.Dial(t, ts.addr, packets.V311)
	w.Send(&packets.Packet{Type: packets.PINGREQ}) // [MQTT-3.1.0-1]
	if got := w.ExpectClosed(5 * time.Second); len(got) != 0 {
		t.Errorf("got %v; want a close without answer", got[0].Type)
	}
	w2 := mqttwire.Dial(t, ts.addr, packets.V5)
	w2.Connect("second")
	w2.Send(&packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, ClientID: "x"}})
	got := w2.ExpectClosed(5 * time.Second)
	if len(got) != 1 || got[0].Type != packets.DISCONNECT || got[0].ReasonCode != packets.ProtocolError {
		t.Errorf("second CONNECT answered %+v; want DISCONNECT 0x82 [MQTT-3.1.0-2]", got)
	}
}

func TestAuthMethodRefused(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Send(&packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, CleanStart: true, ClientID: "am"},
		Properties: packets.Properties{AuthMethod: "SCRAM-SHA-1"}})
	if ack := w.Expect(packets.CONNACK); ack.ReasonCode != packets.BadAuthenticationMethod {
		t.Errorf("CONNACK %v; want 0x8C", ack.ReasonCode)
	}
}

// TestAckOrder: the sink confirms out of order; PUBACKs leave in arrival
// order, only for the confirmed prefix [MQTT-4.6.0-2].
func TestAckOrder(t *testing.T) {
	for _, v := range []packets.Version{packets.V311, packets.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			sink := &fakeSink{Hold: true}
			ts := runServer(t, testConfig(""), sink)
			w := mqttwire.Dial(t, ts.addr, v)
			w.Connect("order")
			w.Send(mqttwire.Publish("a", "1", 1, 1), mqttwire.Publish("a", "2", 1, 2), mqttwire.Publish("a", "3", 2, 3), mqttwire.Publish("a", "4", 1, 4))
			waitFor(t, 5*time.Second, "4 messages at the sink", func() bool { return sink.Len() == 4 })
			sink.Confirm(3, nil)
			sink.Confirm(1, nil)
			w.ExpectNothing(100 * time.Millisecond)
			sink.Confirm(0, nil)
			if p := w.Expect(packets.PUBACK); p.PacketID != 1 {
				t.Fatalf("first ack for %d; want 1", p.PacketID)
			}
			if p := w.Expect(packets.PUBACK); p.PacketID != 2 {
				t.Fatalf("second ack for %d; want 2", p.PacketID)
			}
			w.ExpectNothing(50 * time.Millisecond)
			sink.Confirm(2, nil)
			if p := w.Expect(packets.PUBREC); p.PacketID != 3 {
				t.Fatalf("third ack PUBREC %d; want 3", p.PacketID)
			}
			if p := w.Expect(packets.PUBACK); p.PacketID != 4 {
				t.Fatalf("fourth ack for %d; want 4", p.PacketID)
			}
		})
	}
}

func versionName(v packets.Version) string {
	switch v {
	case packets.V31:
		return "v3.1"
	case packets.V311:
		return "v3.1.1"
	}
	return "v5"
}

// TestSinkError: v3 closes without the ack; v5 acks with the reason code.
func TestSinkError(t *testing.T) {
	t.Run("v3 closes", func(t *testing.T) {
		ts := runServer(t, testConfig(""), &fakeSink{Fail: errors.New("kafka down")})
		w := mqttwire.Dial(t, ts.addr, packets.V311)
		w.Connect("e3")
		w.Send(mqttwire.Publish("t", "x", 1, 9))
		if got := w.ExpectClosed(5 * time.Second); len(got) != 0 {
			t.Errorf("got %v before close; want no PUBACK", got[0].Type)
		}
		waitFor(t, 5*time.Second, "sink_error counted", func() bool { return ts.Stats().Disconnects["sink_error"] == 1 })
	})
	for _, tc := range []struct {
		err  error
		want packets.ReasonCode
	}{
		{packets.QuotaExceeded, packets.QuotaExceeded},
		{errors.New("opaque"), packets.UnspecifiedError},
		{packets.Errorf(packets.ImplementationSpecificError, "mapping failed"), packets.ImplementationSpecificError},
		// 0x95 is not a PUBACK code (MQTT 5 §3.4.2.1): sent as 0x80.
		{packets.Errorf(packets.PacketTooLarge, "record too large"), packets.UnspecifiedError},
	} {
		t.Run("v5 "+tc.err.Error(), func(t *testing.T) {
			ts := runServer(t, testConfig(""), &fakeSink{Fail: tc.err})
			w := mqttwire.Dial(t, ts.addr, packets.V5)
			w.Connect("e5")
			w.Send(mqttwire.Publish("t", "x", 1, 9), mqttwire.Publish("t", "y", 2, 10))
			if p := w.Expect(packets.PUBACK); p.ReasonCode != tc.want || p.PacketID != 9 {
				t.Errorf("PUBACK %d code %v; want 9 with %v", p.PacketID, p.ReasonCode, tc.want)
			}
			if p := w.Expect(packets.PUBREC); p.ReasonCode != tc.want {
				t.Errorf("PUBREC code %v; want %v", p.ReasonCode, tc.want)
			}
		})
	}
}

// TestQoS2Dedupe: a duplicate PUBLISH awaiting PUBREL is re-acked, not
// re-submitted [MQTT-4.3.3-9]; PUBREL of an unknown id gets 0x92.
func TestQoS2Dedupe(t *testing.T) {
	sink := &fakeSink{}
	ts := runServer(t, testConfig(""), sink)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("q2")
	w.Send(mqttwire.Publish("q2/t", "x", 2, 7))
	w.Expect(packets.PUBREC)
	d := mqttwire.Publish("q2/t", "x", 2, 7)
	d.Dup = true
	w.Send(d)
	if p := w.Expect(packets.PUBREC); p.PacketID != 7 {
		t.Fatalf("PUBREC for %d; want 7", p.PacketID)
	}
	w.Send(&packets.Packet{Type: packets.PUBREL, PacketID: 7})
	if p := w.Expect(packets.PUBCOMP); p.ReasonCode != 0 {
		t.Errorf("PUBCOMP code %v; want success", p.ReasonCode)
	}
	w.Send(&packets.Packet{Type: packets.PUBREL, PacketID: 8})
	if p := w.Expect(packets.PUBCOMP); p.ReasonCode != packets.PacketIdentifierNotFound {
		t.Errorf("PUBCOMP for unknown id code %v; want 0x92", p.ReasonCode)
	}
	if n := sink.Len(); n != 1 {
		t.Errorf("sink got %d messages; want 1", n)
	}
}

// TestReceiveMaximumExceeded: a v5 client sending more unacked QoS 1/2
// than the server's Receive Maximum gets DISCONNECT 0x93 [MQTT-3.3.4-7].
func TestReceiveMaximumExceeded(t *testing.T) {
	cfg := testConfig("")
	cfg.ReceiveMaximum = 2
	sink := &fakeSink{Hold: true}
	ts := runServer(t, cfg, sink)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	if ack := w.Connect("rm"); ack.Properties.ReceiveMaximum != 2 {
		t.Fatalf("advertised Receive Maximum %d; want 2", ack.Properties.ReceiveMaximum)
	}
	w.Send(mqttwire.Publish("t", "1", 1, 1), mqttwire.Publish("t", "2", 1, 2), mqttwire.Publish("t", "3", 1, 3))
	got := w.ExpectClosed(5 * time.Second)
	if len(got) == 0 || got[len(got)-1].Type != packets.DISCONNECT || got[len(got)-1].ReasonCode != packets.ReceiveMaximumExceeded {
		t.Errorf("got %+v; want DISCONNECT 0x93", got)
	}
}

// TestV3InboundFlowControl: a v3 client beyond receive_maximum unacked
// publishes is not read until acks go out (no disconnect).
func TestV3InboundFlowControl(t *testing.T) {
	cfg := testConfig("")
	cfg.ReceiveMaximum = 2
	sink := &fakeSink{Hold: true}
	ts := runServer(t, cfg, sink)
	w := mqttwire.Dial(t, ts.addr, packets.V311)
	w.Connect("fc")
	w.Send(mqttwire.Publish("t", "1", 1, 1), mqttwire.Publish("t", "2", 1, 2), mqttwire.Publish("t", "3", 1, 3))
	waitFor(t, 5*time.Second, "2 at the sink", func() bool { return sink.Len() == 2 })
	time.Sleep(50 * time.Millisecond)
	if n := sink.Len(); n != 2 {
		t.Fatalf("sink got %d; want 2 while the ring is full", n)
	}
	sink.Confirm(0, nil)
	w.Expect(packets.PUBACK)
	waitFor(t, 5*time.Second, "the third read after an ack", func() bool { return sink.Len() == 3 })
	sink.Confirm(1, nil)
	sink.Confirm(2, nil)
	w.Expect(packets.PUBACK)
	w.Expect(packets.PUBACK)
}

func TestKeepAliveExpiry(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("ka", func(p *packets.Packet) { p.Connect.KeepAlive = 1 })
	start := time.Now()
	got := w.ExpectClosed(5 * time.Second)
	if el := time.Since(start); el < 1400*time.Millisecond {
		t.Errorf("closed after %v; want 1.5 x keepalive [MQTT-3.1.2-22]", el)
	}
	if len(got) != 1 || got[0].ReasonCode != packets.KeepAliveTimeout {
		t.Errorf("got %+v; want DISCONNECT 0x8D", got)
	}
}

func TestConnectTimeout(t *testing.T) {
	cfg := testConfig("")
	cfg.ConnectTimeout = 200 * time.Millisecond
	ts := runServer(t, cfg, nil)
	w := mqttwire.Dial(t, ts.addr, packets.V311)
	w.ExpectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "connect_timeout counted", func() bool { return ts.Stats().Disconnects["connect_timeout"] == 1 })
}

// TestTakeover: a second connection with the same id closes the first
// with DISCONNECT 0x8E [MQTT-3.1.4-3].
func TestTakeover(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	a := mqttwire.Dial(t, ts.addr, packets.V5)
	a.Connect("same")
	b := mqttwire.Dial(t, ts.addr, packets.V5)
	b.Connect("same")
	got := a.ExpectClosed(5 * time.Second)
	if len(got) != 1 || got[0].Type != packets.DISCONNECT || got[0].ReasonCode != packets.SessionTakenOver {
		t.Errorf("old connection got %+v; want DISCONNECT 0x8E", got)
	}
	b.Send(&packets.Packet{Type: packets.PINGREQ})
	b.Expect(packets.PINGRESP)
}

// TestWill: published (also to the Sink) on an abrupt close, not after a
// normal DISCONNECT [MQTT-3.14.4-3].
func TestWill(t *testing.T) {
	sink := &fakeSink{}
	ts := runServer(t, testConfig(""), sink)
	sub := mqttwire.Dial(t, ts.addr, packets.V311)
	sub.Connect("watcher")
	sub.Subscribe(1, "will/#", 0)

	a := mqttwire.Dial(t, ts.addr, packets.V311)
	a.Connect("dies", mqttwire.Will("will/dies", "gone", 1, 0))
	a.Close()
	if p := sub.Expect(packets.PUBLISH); p.Topic != "will/dies" || string(p.Payload) != "gone" {
		t.Errorf("got %s %q; want the will", p.Topic, p.Payload)
	}
	waitFor(t, 5*time.Second, "will at the sink", func() bool { return sink.Len() == 1 })

	b := mqttwire.Dial(t, ts.addr, packets.V311)
	b.Connect("leaves", mqttwire.Will("will/leaves", "gone", 0, 0))
	b.Send(&packets.Packet{Type: packets.DISCONNECT})
	b.ExpectClosed(5 * time.Second)
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestWillDelayCancelled: a reconnect within the v5 Will Delay Interval
// cancels the will [MQTT-3.1.3-9].
func TestWillDelayCancelled(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	sub := mqttwire.Dial(t, ts.addr, packets.V5)
	sub.Connect("watcher")
	sub.Subscribe(1, "wd/#", 0)

	a := mqttwire.Dial(t, ts.addr, packets.V5)
	a.Connect("wd", mqttwire.Persistent(60), mqttwire.Will("wd/a", "gone", 0, 1))
	a.Close()
	a2 := mqttwire.Dial(t, ts.addr, packets.V5)
	if ack := a2.Connect("wd", mqttwire.Persistent(60)); !ack.SessionPresent {
		t.Errorf("session not present after reconnect")
	}
	sub.ExpectNothing(1500 * time.Millisecond)

	// Without a reconnect the will goes out after the delay.
	b := mqttwire.Dial(t, ts.addr, packets.V5)
	b.Connect("wd2", mqttwire.Persistent(60), mqttwire.Will("wd/b", "gone", 0, 1))
	start := time.Now()
	b.Close()
	p := sub.Expect(packets.PUBLISH)
	if p.Topic != "wd/b" || time.Since(start) < 900*time.Millisecond {
		t.Errorf("will %s after %v; want wd/b after ~1s", p.Topic, time.Since(start))
	}
}

// TestOverlappingSubscriptions: one delivery at the max QoS, with every
// matching subscription identifier (v5) [MQTT-3.3.5-1].
func TestOverlappingSubscriptions(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("ov")
	w.Send(&packets.Packet{Type: packets.SUBSCRIBE, PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "ov/+", QoS: 1}},
		Properties: packets.Properties{SubscriptionIDs: []uint32{5}}})
	w.Expect(packets.SUBACK)
	w.Send(&packets.Packet{Type: packets.SUBSCRIBE, PacketID: 2, Subscriptions: []packets.Subscription{{Filter: "ov/#", QoS: 0}},
		Properties: packets.Properties{SubscriptionIDs: []uint32{6}}})
	w.Expect(packets.SUBACK)
	p0 := mqttwire.Dial(t, ts.addr, packets.V311)
	p0.Connect("pub")
	p0.Send(mqttwire.Publish("ov/x", "m", 2, 1))
	p := w.Expect(packets.PUBLISH)
	if p.QoS != 1 || len(p.Properties.SubscriptionIDs) != 2 {
		t.Errorf("delivered QoS %d ids %v; want QoS 1 with ids [5 6]", p.QoS, p.Properties.SubscriptionIDs)
	}
	w.Send(&packets.Packet{Type: packets.PUBACK, PacketID: p.PacketID})
	w.ExpectNothing(100 * time.Millisecond)
}

// TestSharedSubscription: each message goes to one member of the group.
func TestSharedSubscription(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	var members []*mqttwire.Conn
	for _, id := range []string{"m1", "m2"} {
		w := mqttwire.Dial(t, ts.addr, packets.V311)
		w.Connect(id)
		w.Subscribe(1, "$share/g/sh/#", 0)
		members = append(members, w)
	}
	p0 := mqttwire.Dial(t, ts.addr, packets.V311)
	p0.Connect("pub")
	for range 4 {
		p0.Send(mqttwire.Publish("sh/t", "m", 0, 0))
	}
	for i, w := range members {
		w.Expect(packets.PUBLISH)
		w.Expect(packets.PUBLISH)
		if p, err := w.Read(100 * time.Millisecond); err == nil {
			t.Errorf("member %d got a third message %+v; want round-robin 2/2", i, p)
		}
	}
}
