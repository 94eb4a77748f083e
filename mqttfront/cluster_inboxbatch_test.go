package mqttfront

import (
	"strconv"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// TestInboxBatch: copies delivered in one InboxBatch are written in one
// store transaction, their last mark with them, so that after a restart
// the batch read again queues nothing twice and the next copy is queued
// after them, in order.
func TestInboxBatch(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	ts := runRouted(t, cfg, nil, &fakeRouter{})
	off := mqttwire.Dial(t, ts.addr, packets.V5)
	off.Connect("offline", mqttwire.Persistent(300))
	off.Subscribe(1, "b/#", 1)
	off.Send(&packets.Packet{Type: packets.DISCONNECT})
	off.ExpectClosed(5 * time.Second)
	ts.stop()
	ts = runRouted(t, cfg, nil, &fakeRouter{}) // no connection writes to the store meanwhile

	deliver := func(ib *InboxBatch, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			m := &Message{Topic: "b/t", Payload: []byte(strconv.Itoa(i)), QoS: 1}
			missing, err := ib.Deliver(m, "src", Targets{Clients: []string{"offline", "gone"}}, InboxMark{Name: "inbox.r1/0", Next: uint64(i) + 1})
			if err != nil || len(missing.Clients) != 1 || missing.Clients[0] != "gone" {
				t.Fatalf("Deliver %d = %v, %v; want [gone], nil", i, missing, err)
			}
		}
	}
	before := ts.store.Stats().Writes
	ib, err := ts.BeginInbox()
	if err != nil {
		t.Fatal(err)
	}
	deliver(ib, 0, 3)
	if err := ib.Commit(); err != nil {
		t.Fatal(err)
	}
	if w := ts.store.Stats().Writes - before; w != 1 {
		t.Fatalf("store writes for a batch of 3 copies: %d; want 1", w)
	}
	ts.stop()

	ts = runRouted(t, cfg, nil, &fakeRouter{})
	ib, err = ts.BeginInbox()
	if err != nil {
		t.Fatal(err)
	}
	deliver(ib, 0, 4) // 0..2 read again, 3 new
	if err := ib.Commit(); err != nil {
		t.Fatal(err)
	}
	back := mqttwire.Dial(t, ts.addr, packets.V5)
	if ack := back.Connect("offline", mqttwire.Persistent(300)); !ack.SessionPresent {
		t.Fatalf("reconnect: Session Present 0; want 1")
	}
	for i := range 4 {
		if p := back.Expect(packets.PUBLISH); string(p.Payload) != strconv.Itoa(i) {
			t.Fatalf("queued message %d: %q; want %d", i, p.Payload, i)
		}
	}
	back.ExpectNothing(200 * time.Millisecond) // the batch read again was not queued twice
}
