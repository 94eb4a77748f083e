package mqttfront

import (
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// fakeRouter records what Route is given and holds the completions until
// the test gives them.
type fakeRouter struct {
	mu    sync.Mutex
	msgs  []*Message
	froms []string
	dones []func(error)
}

func (r *fakeRouter) Route(m *Message, from string, done func(error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs, r.froms, r.dones = append(r.msgs, m), append(r.froms, from), append(r.dones, done)
}

func (r *fakeRouter) routed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *fakeRouter) complete(i int, err error) {
	r.mu.Lock()
	done := r.dones[i]
	r.mu.Unlock()
	done(err)
}

// runRouted starts a server with the router set.
func runRouted(t *testing.T, cfg Config, sink Sink, r RemoteRouter) *testSrv {
	t.Helper()
	if sink == nil {
		sink = &fakeSink{}
	}
	s, err := New(cfg, sink, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.SetRemoteRouter(r)
	stop := testkit.Start(t, s, s.Ready())
	t.Cleanup(stop)
	return &testSrv{Server: s, addr: s.Addr("tcp").String(), stop: stop}
}

// TestRemoteRouterAckWaitsForCopies: a QoS 1/2 publish is acked only once
// the Sink and the remote copies both completed, and the acks keep the
// arrival order whatever order the copies complete in [MQTT-4.6.0-2]. A
// remote failure is the ack's reason code.
func TestRemoteRouterAckWaitsForCopies(t *testing.T) {
	r := &fakeRouter{}
	ts := runRouted(t, testConfig(t.TempDir()), nil, r)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("pub")
	w.Send(mqttwire.Publish("a/1", "one", 1, 1), mqttwire.Publish("a/2", "two", 2, 2), mqttwire.Publish("a/3", "three", 1, 3))
	waitFor(t, 5*time.Second, "three publishes handed to the router", func() bool { return r.routed() == 3 })
	for i, from := range r.froms {
		if from != "pub" || r.msgs[i].Topic != "a/"+string(rune('1'+i)) {
			t.Fatalf("Route call %d: topic %q from %q; want a/%d from pub (arrival order)", i, r.msgs[i].Topic, from, i+1)
		}
	}
	w.ExpectNothing(200 * time.Millisecond) // the Sink confirmed, the copies did not
	r.complete(1, nil)
	r.complete(2, errors.New("kafka down"))
	w.ExpectNothing(200 * time.Millisecond) // the first still waits: no ack may pass it
	r.complete(0, nil)
	a1, a2, a3 := w.Expect(packets.PUBACK), w.Expect(packets.PUBREC), w.Expect(packets.PUBACK)
	if a1.PacketID != 1 || a2.PacketID != 2 || a3.PacketID != 3 {
		t.Fatalf("acks for ids %d, %d, %d; want 1, 2, 3", a1.PacketID, a2.PacketID, a3.PacketID)
	}
	if a1.ReasonCode != packets.Success || a2.ReasonCode != packets.Success || a3.ReasonCode != packets.UnspecifiedError {
		t.Fatalf("reason codes %#x %#x %#x; want 0, 0, 0x80 (the failed copy)", a1.ReasonCode, a2.ReasonCode, a3.ReasonCode)
	}
}

// TestRemoteRouterQoS0AndSys: QoS 0 copies are best effort (no
// completion); $SYS never leaves the replica.
func TestRemoteRouterQoS0AndSys(t *testing.T) {
	r := &fakeRouter{}
	ts := runRouted(t, testConfig(t.TempDir()), nil, r)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("pub")
	w.Send(mqttwire.Publish("q0/t", "x", 0, 0))
	waitFor(t, 5*time.Second, "the QoS 0 publish routed", func() bool { return r.routed() == 1 })
	if r.dones[0] != nil {
		t.Fatalf("QoS 0 publish routed with a completion; want none (best effort)")
	}
	ts.publishSys(time.Now())
	if n := r.routed(); n != 1 {
		t.Fatalf("$SYS updates handed to the router: %d calls; want none", n-1)
	}
}

// TestRemoteRouterPublishDoneWaits: Publish (downlink, admin API)
// completes only once the copies are durable, with their error.
func TestRemoteRouterPublishDoneWaits(t *testing.T) {
	r := &fakeRouter{}
	ts := runRouted(t, testConfig(t.TempDir()), nil, r)
	res := make(chan error, 2)
	ts.Publish(&Message{Topic: "down/1", QoS: 1}, func(err error) { res <- err })
	ts.Publish(&Message{Topic: "down/2", QoS: 0}, func(err error) { res <- err })
	select {
	case err := <-res:
		t.Fatalf("Publish completed (%v) before its copies were acked", err)
	default:
	}
	r.complete(0, nil)
	if err := <-res; err != nil {
		t.Fatalf("Publish done = %v; want nil", err)
	}
	r.complete(1, ErrUnavailable)
	if err := <-res; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Publish done = %v; want the copies' ErrUnavailable", err)
	}
}

// TestDeliverCopy: a copy reaches only the named sessions held here,
// through the per-delivery path (the session's own subscription options),
// is queued durably for an offline persistent session, is not delivered
// twice when read again (mark), also after a restart, and the names not
// held here come back as missing.
func TestDeliverCopy(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	ts := runRouted(t, cfg, nil, &fakeRouter{})
	off := mqttwire.Dial(t, ts.addr, packets.V5)
	off.Connect("offline", mqttwire.Persistent(300))
	off.Subscribe(1, "c/#", 1)
	off.Send(&packets.Packet{Type: packets.DISCONNECT})
	other := mqttwire.Dial(t, ts.addr, packets.V5)
	other.Connect("other")
	other.Subscribe(1, "c/#", 1)

	mark := InboxMark{Name: "inbox.r1/0", Next: 5}
	missing, err := ts.Deliver(&Message{Topic: "c/1", Payload: []byte("one"), QoS: 2}, "src", []string{"offline", "gone"}, mark)
	if err != nil || len(missing) != 1 || missing[0] != "gone" {
		t.Fatalf("Deliver = %v, %v; want [gone], nil", missing, err)
	}
	other.ExpectNothing(200 * time.Millisecond) // not named in the copy
	if _, err := ts.Deliver(&Message{Topic: "c/1", Payload: []byte("one"), QoS: 1}, "src", []string{"offline"}, mark); err != nil {
		t.Fatal(err)
	}
	ts.stop()

	ts = runRouted(t, cfg, nil, &fakeRouter{})
	if _, err := ts.Deliver(&Message{Topic: "c/1", Payload: []byte("one"), QoS: 1}, "src", []string{"offline"}, mark); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Deliver(&Message{Topic: "c/2", Payload: []byte("two"), QoS: 1}, "src", []string{"offline"}, InboxMark{Name: mark.Name, Next: 6}); err != nil {
		t.Fatal(err)
	}
	back := mqttwire.Dial(t, ts.addr, packets.V5)
	if ack := back.Connect("offline", mqttwire.Persistent(300)); !ack.SessionPresent {
		t.Fatalf("reconnect: Session Present 0; want 1")
	}
	p1, p2 := back.Expect(packets.PUBLISH), back.Expect(packets.PUBLISH)
	if string(p1.Payload) != "one" || p1.QoS != 1 || string(p2.Payload) != "two" {
		t.Fatalf("queued: %q (QoS %d), %q; want one at QoS 1 (the subscription's), then two", p1.Payload, p1.QoS, p2.Payload)
	}
	back.ExpectNothing(200 * time.Millisecond) // the copy read again was not queued twice
}

// TestDeliverCopyStoreClosed: a copy whose store write finds the store
// closed (the server stopping while the cluster's inbox still applies
// copies) is reported ErrServerClosed, so that the inbox does not count
// it applied and reads it again at the restart; before, it was "queued in
// memory only" and the inbox checkpointed past it: lost.
func TestDeliverCopyStoreClosed(t *testing.T) {
	ts := runRouted(t, testConfig(t.TempDir()), nil, &fakeRouter{})
	off := mqttwire.Dial(t, ts.addr, packets.V5)
	off.Connect("offline", mqttwire.Persistent(300))
	off.Subscribe(1, "c/#", 1)
	off.Send(&packets.Packet{Type: packets.DISCONNECT})

	if _, err := ts.Deliver(&Message{Topic: "c/0", Payload: []byte("zero"), QoS: 1}, "src", []string{"offline"}, InboxMark{Name: "inbox.r1/0", Next: 4}); err != nil {
		t.Fatal(err)
	}
	if err := ts.store.Close(); err != nil { // as Run's shutdown does, racing the inbox
		t.Fatal(err)
	}
	_, err := ts.Deliver(&Message{Topic: "c/1", Payload: []byte("one"), QoS: 1}, "src", []string{"offline"}, InboxMark{Name: "inbox.r1/0", Next: 5})
	if !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Deliver with the store closed = %v; want ErrServerClosed", err)
	}
}
