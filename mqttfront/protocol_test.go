package mqttfront

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// Protocol rules of issue 10, item 7.

// TestPublishWithSubscriptionIdentifier: a client must not send a
// Subscription Identifier in a PUBLISH [MQTT-3.3.4-6]: DISCONNECT 0x82.
func TestPublishWithSubscriptionIdentifier(t *testing.T) {
	sink := &fakeSink{}
	ts := runServer(t, testConfig(""), sink)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("subid")
	p := mqttwire.Publish("a/b", "x", 1, 1)
	p.Properties.SubscriptionIDs = []uint32{5}
	w.Send(p)
	got := w.ExpectClosed(5 * time.Second)
	if len(got) != 1 || got[0].Type != packets.DISCONNECT || got[0].ReasonCode != packets.ProtocolError {
		t.Errorf("got %+v; want DISCONNECT 0x82", got)
	}
	if sink.Len() != 0 {
		t.Errorf("the publish reached the sink")
	}
	waitFor(t, 5*time.Second, "protocol_error counted", func() bool { return ts.Stats().Disconnects["protocol_error"] == 1 })
}

// TestTopicAliasZero: Topic Alias 0 is not allowed [MQTT-3.3.2-8]:
// DISCONNECT 0x94 Topic Alias invalid.
func TestTopicAliasZero(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("alias0")
	w.SendRaw([]byte{
		0x30, 8, // PUBLISH QoS 0, remaining length
		0, 1, 't', // topic "t"
		3, 0x23, 0, 0, // properties: topic alias 0
		'x', // payload
	})
	got := w.ExpectClosed(5 * time.Second)
	if len(got) != 1 || got[0].Type != packets.DISCONNECT || got[0].ReasonCode != packets.TopicAliasInvalid {
		t.Errorf("got %+v; want DISCONNECT 0x94", got)
	}
	waitFor(t, 5*time.Second, "topic_alias_invalid counted", func() bool { return ts.Stats().Disconnects["topic_alias_invalid"] == 1 })
}

// TestWillTopicInvalid: a will topic must be a valid topic name, without
// wildcards [MQTT-3.1.3-10] [MQTT-4.7.1-1]. 3.1.1 has no CONNACK code for
// it, so the connection is closed as for any protocol violation
// [MQTT-4.8.0-1]; v5 is told CONNACK 0x90 Topic Name invalid first
// [MQTT-4.13.1-1].
func TestWillTopicInvalid(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	for _, tt := range []struct {
		v    packets.Version
		want []packets.ReasonCode // CONNACK codes before the close
	}{
		{packets.V311, nil},
		{packets.V31, nil},
		{packets.V5, []packets.ReasonCode{packets.TopicNameInvalid}},
	} {
		w := mqttwire.Dial(t, ts.addr, tt.v)
		p := &packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{ProtocolName: "MQTT", ProtocolVersion: tt.v,
			CleanStart: true, ClientID: "willwild", WillFlag: true, WillTopic: "devices/+/status", WillPayload: []byte("gone")}}
		if tt.v == packets.V31 {
			p.Connect.ProtocolName = "MQIsdp"
		}
		w.Send(p)
		got := w.ExpectClosed(5 * time.Second)
		var codes []packets.ReasonCode
		for _, g := range got {
			codes = append(codes, g.ReasonCode)
		}
		if len(codes) != len(tt.want) || (len(codes) == 1 && codes[0] != tt.want[0]) {
			t.Errorf("version %d: got CONNACK codes %v before the close; want %v", tt.v, codes, tt.want)
		}
	}
	waitFor(t, 5*time.Second, "topic_invalid counted", func() bool { return ts.Stats().Disconnects["topic_invalid"] == 3 })
}

// TestReceiveMaximumExceededWhileWriting: a v5 client that keeps writing
// QoS 1 publishes past Receive Maximum must still read DISCONNECT 0x93
// [MQTT-3.3.4-7] before the socket closes. Closing a socket with unread
// bytes sends a TCP reset, which destroyed the DISCONNECT in the client's
// receive buffer; the server now half-closes and drains for a while.
func TestReceiveMaximumExceededWhileWriting(t *testing.T) {
	cfg := testConfig("")
	cfg.ReceiveMaximum = 2
	ts := runServer(t, cfg, &fakeSink{Hold: true})
	for round := range 3 {
		w := mqttwire.Dial(t, ts.addr, packets.V5)
		w.Connect(fmt.Sprintf("flood-%d", round))
		frame, err := packets.Encode(nil, mqttwire.Publish("flood/t", strings.Repeat("x", 1000), 1, 1), packets.V5)
		if err != nil {
			t.Fatal(err)
		}
		batch := bytes.Repeat(frame, 64)
		// The writer keeps writing after the limit, well past what the
		// server lets in, until it sees the DISCONNECT or has sent 4 MiB.
		// The server drains at most 8 MiB or 2 s: over loopback an
		// unbounded writer can fill 8 MiB before a loaded machine schedules
		// this test's reader, and the reset that follows would say nothing
		// about the half-close.
		writerDone, sawDisconnect := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(writerDone)
			for sent := 0; sent < 4<<20; sent += len(batch) {
				select {
				case <-sawDisconnect:
					return
				default:
				}
				_ = w.NetConn().SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err := w.NetConn().Write(batch); err != nil {
					return
				}
			}
		}()
		var got []*packets.Packet
		var readErr error
		for {
			p, err := w.Read(10 * time.Second)
			if err != nil {
				readErr = err
				break
			}
			got = append(got, p)
			if p.Type == packets.DISCONNECT && len(got) > 0 {
				select {
				case <-sawDisconnect:
				default:
					close(sawDisconnect)
				}
			}
		}
		w.Close()
		<-writerDone
		if len(got) == 0 || got[len(got)-1].Type != packets.DISCONNECT || got[len(got)-1].ReasonCode != packets.ReceiveMaximumExceeded {
			t.Fatalf("round %d: got %d packets then %v; want DISCONNECT 0x93 then EOF", round, len(got), readErr)
		}
		if readErr != io.EOF {
			t.Errorf("round %d: after DISCONNECT: %v; want EOF (an orderly close, not a reset)", round, readErr)
		}
	}
}

// TestServerKeepAliveDefault: with the shipped max_keepalive (1200 s) a v5
// client asking for no keepalive (0) or more is told Server Keep Alive =
// 1200 [MQTT-3.2.2-21]; one asking less keeps its own (no property). A
// v3.1/3.1.1 client cannot be told: above the maximum it is refused with
// CONNACK 0x02 (Mosquitto's behaviour); 0 is accepted (TCP keepalive still
// finds dead peers, and read_timeout bounds a started packet).
func TestServerKeepAliveDefault(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	if got := DefaultConfig().MaxKeepAlive; got != 1200 {
		t.Errorf("default max_keepalive %d; want 1200", got)
	}
	for i, tt := range []struct {
		v       packets.Version
		ask     uint16
		code    packets.ReasonCode
		told    bool
		serverK uint16
	}{
		{packets.V5, 0, packets.Success, true, 1200},
		{packets.V5, 3600, packets.Success, true, 1200},
		{packets.V5, 65535, packets.Success, true, 1200},
		{packets.V5, 1200, packets.Success, false, 0},
		{packets.V5, 60, packets.Success, false, 0},
		{packets.V311, 0, packets.Success, false, 0},
		{packets.V311, 1200, packets.Success, false, 0},
		{packets.V311, 1201, packets.V3IdentifierRejected, false, 0},
	} {
		w := mqttwire.Dial(t, ts.addr, tt.v)
		ack := w.Connect(fmt.Sprintf("ka-%d", i), func(p *packets.Packet) { p.Connect.KeepAlive = tt.ask })
		pr := ack.Properties
		if ack.ReasonCode != tt.code || pr.ServerKeepAliveSet != tt.told || pr.ServerKeepAlive != tt.serverK {
			t.Errorf("v%d keepalive %d: CONNACK %v, Server Keep Alive %v/%d; want %v, %v/%d",
				tt.v, tt.ask, ack.ReasonCode, pr.ServerKeepAliveSet, pr.ServerKeepAlive, tt.code, tt.told, tt.serverK)
		}
	}
}
