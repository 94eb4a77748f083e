package mqttfront

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

func TestSubackCodes(t *testing.T) {
	cfg := testConfig("")
	cfg.Auth.ACL.Rules = append(cfg.Auth.ACL.Rules, aclDeny("subscribe", "secret/#"))
	ts := runServer(t, cfg, nil)
	for _, tc := range []struct {
		v                packets.Version
		invalid, denied  packets.ReasonCode
		unsubNoneExisted packets.ReasonCode
	}{
		{packets.V311, packets.V3SubackFailure, packets.V3SubackFailure, 0},
		{packets.V5, packets.TopicFilterInvalid, packets.NotAuthorized, packets.NoSubscriptionExisted},
	} {
		t.Run(versionName(tc.v), func(t *testing.T) {
			w := mqttwire.Dial(t, ts.addr, tc.v)
			w.Connect("sc")
			w.Send(&packets.Packet{Type: packets.SUBSCRIBE, PacketID: 1, Subscriptions: []packets.Subscription{
				{Filter: "ok/#", QoS: 2}, {Filter: "bad/#/x", QoS: 1}, {Filter: "secret/x", QoS: 1}, {Filter: "q1", QoS: 1}}})
			sa := w.Expect(packets.SUBACK)
			want := []packets.ReasonCode{2, tc.invalid, tc.denied, 1}
			if len(sa.ReasonCodes) != 4 {
				t.Fatalf("SUBACK codes %v; want %v", sa.ReasonCodes, want)
			}
			for i := range want {
				if sa.ReasonCodes[i] != want[i] {
					t.Errorf("SUBACK code %d = %v; want %v", i, sa.ReasonCodes[i], want[i])
				}
			}
			w.Send(&packets.Packet{Type: packets.UNSUBSCRIBE, PacketID: 2, Subscriptions: []packets.Subscription{{Filter: "ok/#"}, {Filter: "never"}}})
			ua := w.Expect(packets.UNSUBACK)
			if tc.v == packets.V5 && (len(ua.ReasonCodes) != 2 || ua.ReasonCodes[0] != 0 || ua.ReasonCodes[1] != tc.unsubNoneExisted) {
				t.Errorf("UNSUBACK codes %v; want [0 0x11]", ua.ReasonCodes)
			}
		})
	}
}

// TestPublishDenied: v5 gets PUBACK 0x87, v3 a normal PUBACK; neither
// reaches the sink or subscribers. $SYS is refused the same way.
func TestPublishDenied(t *testing.T) {
	cfg := testConfig("")
	cfg.Auth.ACL.Rules = append(cfg.Auth.ACL.Rules, aclDeny("publish", "ro/#"))
	sink := &fakeSink{}
	ts := runServer(t, cfg, sink)
	for _, tc := range []struct {
		v    packets.Version
		want packets.ReasonCode
	}{{packets.V311, 0}, {packets.V5, packets.NotAuthorized}} {
		t.Run(versionName(tc.v), func(t *testing.T) {
			w := mqttwire.Dial(t, ts.addr, tc.v)
			w.Connect("den")
			w.Send(mqttwire.Publish("ro/x", "no", 1, 1), mqttwire.Publish("$SYS/broker/x", "no", 1, 2), mqttwire.Publish("rw/x", "yes", 1, 3))
			for _, id := range []uint16{1, 2} {
				if p := w.Expect(packets.PUBACK); p.PacketID != id || p.ReasonCode != tc.want {
					t.Errorf("PUBACK %d code %v; want %d with %v", p.PacketID, p.ReasonCode, id, tc.want)
				}
			}
			w.Expect(packets.PUBACK)
		})
	}
	for _, topic := range topicsOf(sink) {
		if strings.HasPrefix(topic, "ro/") || strings.HasPrefix(topic, "$SYS") {
			t.Errorf("denied publish to %s reached the sink", topic)
		}
	}
	st := ts.Stats()
	if st.Drops["not_authorized"] != 2 || st.Drops["sys_topic"] != 2 {
		t.Errorf("drops %v; want not_authorized 2, sys_topic 2", st.Drops)
	}
}

// TestTopicAliases: inbound alias resolution and the 0x94 limit; outbound
// aliases within the client's Topic Alias Maximum.
func TestTopicAliases(t *testing.T) {
	sink := &fakeSink{}
	ts := runServer(t, testConfig(""), sink)
	sub := mqttwire.Dial(t, ts.addr, packets.V5)
	sub.Connect("as", func(p *packets.Packet) { p.Properties.TopicAliasMaximum = 1 })
	sub.Subscribe(1, "al/#", 0)

	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("ap")
	a := mqttwire.Publish("al/one", "1", 0, 0)
	a.Properties.TopicAlias = 3
	w.Send(a)
	b := mqttwire.Publish("", "2", 0, 0)
	b.Properties.TopicAlias = 3
	w.Send(b)
	p1 := sub.Expect(packets.PUBLISH)
	p2 := sub.Expect(packets.PUBLISH)
	if p1.Topic != "al/one" || p1.Properties.TopicAlias != 1 {
		t.Errorf("first delivery topic %q alias %d; want al/one with alias 1", p1.Topic, p1.Properties.TopicAlias)
	}
	if p2.Topic != "" || p2.Properties.TopicAlias != 1 {
		t.Errorf("second delivery topic %q alias %d; want alias 1 only", p2.Topic, p2.Properties.TopicAlias)
	}
	waitFor(t, 5*time.Second, "two at the sink", func() bool { return sink.Len() == 2 })
	if ts := topicsOf(sink); ts[1] != "al/one" {
		t.Errorf("sink topic %q; want the alias resolved to al/one", ts[1])
	}
	c := mqttwire.Publish("al/x", "3", 0, 0)
	c.Properties.TopicAlias = 65
	w.Send(c)
	got := w.ExpectClosed(5 * time.Second)
	if len(got) != 1 || got[0].ReasonCode != packets.TopicAliasInvalid {
		t.Errorf("alias above maximum answered %+v; want DISCONNECT 0x94", got)
	}
}

// TestClientMaximumPacketSize: deliveries larger than the client's
// Maximum Packet Size are dropped and counted [MQTT-3.1.2-25].
func TestClientMaximumPacketSize(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	sub := mqttwire.Dial(t, ts.addr, packets.V5)
	sub.Connect("small", func(p *packets.Packet) { p.Properties.MaximumPacketSize = 64 })
	sub.Subscribe(1, "mp/#", 1)
	w := mqttwire.Dial(t, ts.addr, packets.V311)
	w.Connect("big")
	w.Send(mqttwire.Publish("mp/big", strings.Repeat("x", 200), 1, 1), mqttwire.Publish("mp/small", "x", 1, 2))
	p := sub.Expect(packets.PUBLISH)
	if p.Topic != "mp/small" {
		t.Errorf("got %s; want the oversized message dropped", p.Topic)
	}
	if d := ts.Stats().Drops["too_large"]; d != 1 {
		t.Errorf("too_large drops %d; want 1", d)
	}
}

// TestClientMaximumPacketSizeLeavesOutReasonString: a DISCONNECT whose
// reason string would exceed the client's Maximum Packet Size goes out
// without it rather than not at all [MQTT-3.1.2-25].
func TestClientMaximumPacketSizeLeavesOutReasonString(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	for _, tc := range []struct {
		name    string
		max     uint32
		wantMsg bool
	}{
		{"room for the reason string", 1024, true},
		{"no room for it", 24, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mqttwire.Dial(t, ts.addr, packets.V5)
			w.Connect("mps-"+strconv.Itoa(int(tc.max)), func(p *packets.Packet) { p.Properties.MaximumPacketSize = tc.max })
			c := mqttwire.Publish("mps/x", "1", 0, 0)
			c.Properties.TopicAlias = 65 // above the server's maximum: DISCONNECT 0x94 with a reason string
			w.Send(c)
			got := w.ExpectClosed(5 * time.Second)
			if len(got) != 1 || got[0].ReasonCode != packets.TopicAliasInvalid {
				t.Fatalf("answered %+v; want DISCONNECT 0x94", got)
			}
			if has := got[0].Properties.ReasonString != ""; has != tc.wantMsg {
				t.Errorf("reason string %q with Maximum Packet Size %d; want present=%v", got[0].Properties.ReasonString, tc.max, tc.wantMsg)
			}
		})
	}
}

func TestTopicLimits(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxTopicLevels = 3
	ts := runServer(t, cfg, nil)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("lv")
	w.Send(mqttwire.Publish("a/b/c/d", "x", 1, 1))
	got := w.ExpectClosed(5 * time.Second)
	if len(got) != 1 || got[0].ReasonCode != packets.TopicNameInvalid {
		t.Errorf("4-level topic answered %+v; want DISCONNECT 0x90", got)
	}
}

func TestMaxRetained(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxRetained = 1
	ts := runServer(t, cfg, nil)
	w := mqttwire.Dial(t, ts.addr, packets.V311)
	w.Connect("rt")
	for i, topic := range []string{"r/1", "r/2", "r/1"} {
		p := mqttwire.Publish(topic, "v", 1, uint16(i+1))
		p.Retain = true
		w.Send(p)
		w.Expect(packets.PUBACK)
	}
	st := ts.Stats()
	if st.Retained != 1 || st.Drops["retained_full"] != 1 {
		t.Errorf("retained %d drops %v; want 1 retained, 1 retained_full", st.Retained, st.Drops)
	}
}

func TestPublishAPI(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	call := func(m *Message) error {
		var got error
		called := false
		ts.Publish(m, func(err error) { got, called = err, true })
		if !called {
			t.Fatal("Publish returned before calling done")
		}
		return got
	}
	if err := call(&Message{Topic: "none", Payload: []byte("x"), QoS: 1}); err != nil {
		t.Errorf("Publish with no subscribers: done(%v); want nil", err)
	}
	if err := call(&Message{Topic: "bad/+", Payload: []byte("x")}); err == nil {
		t.Errorf("Publish to a wildcard topic: done(nil); want an error")
	}
	w := mqttwire.Dial(t, ts.addr, packets.V311)
	w.Connect("dl")
	w.Subscribe(1, "dl/#", 1)
	if err := call(&Message{Topic: "dl/x", Payload: []byte("down"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	if p := w.Expect(packets.PUBLISH); string(p.Payload) != "down" || p.QoS != 1 {
		t.Errorf("got %q QoS %d; want down QoS 1", p.Payload, p.QoS)
	}
}

func TestServerRunTwiceAndBindError(t *testing.T) {
	ts := runServer(t, testConfig(""), nil)
	if err := ts.Run(t.Context()); err != ErrAlreadyRunning {
		t.Errorf("second Run = %v; want ErrAlreadyRunning", err)
	}
	cfg := testConfig("")
	cfg.Listeners.TCP.Address = ts.addr
	s, err := New(cfg, &fakeSink{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "mqtt.listeners.tcp") {
		t.Errorf("Run on a busy address = %v; want a bind error naming the listener", err)
	}
}

func aclDeny(action, topic string) auth.ACLRule {
	return auth.ACLRule{Permission: auth.PermissionDeny, Action: action, Topics: []string{topic}}
}

// TestMaxKeepAlive: v5 is told Server Keep Alive; v3 above the maximum is
// refused with 0x02 (Mosquitto behaviour).
func TestMaxKeepAlive(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxKeepAlive = 30
	ts := runServer(t, cfg, nil)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	ack := w.Connect("k5", func(p *packets.Packet) { p.Connect.KeepAlive = 100 })
	if !ack.Properties.ServerKeepAliveSet || ack.Properties.ServerKeepAlive != 30 {
		t.Errorf("CONNACK Server Keep Alive %v/%d; want 30", ack.Properties.ServerKeepAliveSet, ack.Properties.ServerKeepAlive)
	}
	w3 := mqttwire.Dial(t, ts.addr, packets.V311)
	if ack := w3.Connect("k3", func(p *packets.Packet) { p.Connect.KeepAlive = 100 }); ack.ReasonCode != packets.V3IdentifierRejected {
		t.Errorf("v3 CONNACK %v; want 0x02", ack.ReasonCode)
	}
}
