package mqttfront

import (
	"slices"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// fakeSharedRouter is a fakeRouter that routes $share groups.
type fakeSharedRouter struct{ fakeRouter }

func (r *fakeSharedRouter) RouteShared(m *Message, from string, done func(error)) {
	r.Route(m, from, done)
}

// TestSharedRouterTakesGroups: with a SharedRouter set, a publish reaches
// the plain subscribers here as before, but no member of a $share group:
// the router decides the group (and gets the message); with a plain
// RemoteRouter the group is still picked here.
func TestSharedRouterTakesGroups(t *testing.T) {
	for _, shared := range []bool{true, false} {
		var r RemoteRouter = &fakeRouter{}
		if shared {
			r = &fakeSharedRouter{}
		}
		ts := runRouted(t, testConfig(t.TempDir()), nil, r)
		m := mqttwire.Dial(t, ts.addr, packets.V5)
		m.Connect("member")
		m.Subscribe(1, "$share/g/s/#", 1)
		plain := mqttwire.Dial(t, ts.addr, packets.V5)
		plain.Connect("plain")
		plain.Subscribe(1, "s/#", 1)
		p := mqttwire.Dial(t, ts.addr, packets.V5)
		p.Connect("pub")
		p.Send(mqttwire.Publish("s/1", "x", 0, 0))
		if got := plain.Expect(packets.PUBLISH); string(got.Payload) != "x" {
			t.Fatalf("plain subscriber got %q; want x", got.Payload)
		}
		if shared {
			m.ExpectNothing(200 * time.Millisecond)
		} else if got := m.Expect(packets.PUBLISH); string(got.Payload) != "x" {
			t.Fatalf("without a SharedRouter the member here got %q; want x (groups per replica)", got.Payload)
		}
		waitFor(t, 5*time.Second, "the publish handed to the router", func() bool {
			if shared {
				return r.(*fakeSharedRouter).routed() == 1
			}
			return r.(*fakeRouter).routed() == 1
		})
		ts.stop()
	}
}

// TestDeliverTargetsGroups: a group named in DeliverTargets goes to one
// member held here, round-robin, at min(message, subscription) QoS; a
// group with no member here, or whose members the ACL denies the topic,
// comes back as missing (the denial counted); a copy read again (mark)
// delivers nothing, but still names the groups it cannot take here.
func TestDeliverTargetsGroups(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Auth.ACL = auth.ACLConfig{NoMatch: auth.NoMatchAllow, Rules: []auth.ACLRule{
		{Permission: auth.PermissionDeny, Action: auth.ActionNameSubscribe, ClientID: "m1", Topics: []string{"s/only-m2"}},
		{Permission: auth.PermissionDeny, Action: auth.ActionNameSubscribe, Topics: []string{"s/nobody"}},
	}}
	ts := runRouted(t, cfg, nil, &fakeSharedRouter{})
	const g = "$share/g/s/#"
	m1, m2 := mqttwire.Dial(t, ts.addr, packets.V5), mqttwire.Dial(t, ts.addr, packets.V5)
	m1.Connect("m1")
	m1.Subscribe(1, g, 1)
	m2.Connect("m2")
	m2.Subscribe(1, g, 1)

	deliver := func(topic, payload string, mark InboxMark, groups ...string) []string {
		t.Helper()
		missing, err := ts.DeliverTargets(&Message{Topic: topic, Payload: []byte(payload), QoS: 2}, "src", Targets{Groups: groups}, mark)
		if err != nil || len(missing.Clients) != 0 {
			t.Fatalf("DeliverTargets(%s) = %+v, %v; want no client missing, nil", topic, missing, err)
		}
		return missing.Groups
	}
	if missing := deliver("s/1", "a", InboxMark{}, g, "$share/other/s/#"); !slices.Equal(missing, []string{"$share/other/s/#"}) {
		t.Fatalf("missing groups %v; want the one with no member here", missing)
	}
	if missing := deliver("s/2", "b", InboxMark{}, g); missing != nil {
		t.Fatalf("missing groups %v; want none", missing)
	}
	var got []string
	for _, w := range []*mqttwire.Conn{m1, m2} {
		p := w.Expect(packets.PUBLISH)
		if p.QoS != 1 {
			t.Fatalf("member got %q at QoS %d; want 1 (its subscription's)", p.Payload, p.QoS)
		}
		got = append(got, string(p.Payload))
		w.Send(&packets.Packet{Type: packets.PUBACK, PacketID: p.PacketID})
	}
	if slices.Sort(got); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("members got %v; want a and b, one each (round-robin)", got)
	}

	// The ACL picks m2 for s/only-m2, every time; nobody may read s/nobody.
	for i := range 3 {
		if missing := deliver("s/only-m2", "c", InboxMark{}, g); missing != nil {
			t.Fatalf("delivery %d: missing %v; want none (m2 is allowed)", i, missing)
		}
		p := m2.Expect(packets.PUBLISH)
		m2.Send(&packets.Packet{Type: packets.PUBACK, PacketID: p.PacketID})
	}
	before := ts.Stats().Drops["delivery_not_authorized"]
	if missing := deliver("s/nobody", "d", InboxMark{}, g); !slices.Equal(missing, []string{g}) {
		t.Fatalf("missing %v; want %s (every member denied)", missing, g)
	}
	if n := ts.Stats().Drops["delivery_not_authorized"] - before; n != 1 {
		t.Fatalf("delivery_not_authorized drops +%d; want 1", n)
	}
	m1.ExpectNothing(200 * time.Millisecond)

	mark := InboxMark{Name: "inbox.r1/0", Next: 7}
	deliver("s/3", "e", mark, g)
	p := m1.Expect(packets.PUBLISH)
	m1.Send(&packets.Packet{Type: packets.PUBACK, PacketID: p.PacketID})
	if missing := deliver("s/3", "e", mark, g, "$share/other/s/#"); !slices.Equal(missing, []string{"$share/other/s/#"}) {
		t.Fatalf("read again: missing %v; want the group with no member here", missing)
	}
	m1.ExpectNothing(200 * time.Millisecond)
	m2.ExpectNothing(0)
}

// TestUplinkWillRoutesGroups: a will the cluster fired is routed to the
// $share groups once, by UplinkWill (DeliverWill, at every replica, leaves
// them out), and its done waits for those copies too.
func TestUplinkWillRoutesGroups(t *testing.T) {
	r := &fakeSharedRouter{}
	ts := runRouted(t, testConfig(t.TempDir()), nil, r)
	m := mqttwire.Dial(t, ts.addr, packets.V5)
	m.Connect("member")
	m.Subscribe(1, "$share/g/w/#", 1)
	ts.DeliverWill(&Message{Topic: "w/dev", Payload: []byte("gone"), QoS: 1, ClientID: "dev"})
	m.ExpectNothing(200 * time.Millisecond)
	if n := r.routed(); n != 0 {
		t.Fatalf("DeliverWill routed %d messages; want none (the firing replica's UplinkWill does)", n)
	}
	res := make(chan error, 1)
	ts.UplinkWill(&Message{Topic: "w/dev", Payload: []byte("gone"), QoS: 1, ClientID: "dev"}, func(err error) { res <- err })
	waitFor(t, 5*time.Second, "the will's groups handed to the router", func() bool { return r.routed() == 1 })
	select {
	case err := <-res:
		t.Fatalf("UplinkWill done (%v) before the group copies were acked", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.complete(0, nil)
	if err := <-res; err != nil {
		t.Fatalf("UplinkWill done = %v; want nil", err)
	}
}
