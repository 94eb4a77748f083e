package mqttfront

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// writtenBytes returns the bytes this process has passed to write system
// calls so far (wchar in /proc/self/io), which includes bbolt's page writes.
func writtenBytes(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("parse wchar %q: %v", v, err)
			}
			return n
		}
	}
	t.Skip("no wchar in /proc/self/io")
	return 0
}

// subscribeMany sends one SUBSCRIBE with filters and waits for its SUBACK,
// then for a PINGRESP: the read loop handles packets in order, so the
// PINGRESP means the SUBSCRIBE's store write has returned.
func subscribeMany(t *testing.T, w *mqttwire.Conn, id uint16, filters []string) {
	t.Helper()
	p := &packets.Packet{Type: packets.SUBSCRIBE, PacketID: id}
	for _, f := range filters {
		p.Subscriptions = append(p.Subscriptions, packets.Subscription{Filter: f, QoS: 1})
	}
	w.Send(p, &packets.Packet{Type: packets.PINGREQ})
	ack := w.Expect(packets.SUBACK)
	for i, rc := range ack.ReasonCodes {
		if rc != 1 {
			t.Fatalf("SUBACK code %d = %#x; want granted QoS 1", i, rc)
		}
	}
	w.Expect(packets.PINGRESP)
}

// TestSubscribeWritesOnlyTheChange: one more SUBSCRIBE (or UNSUBSCRIBE) on
// a persistent session that holds 10,000 subscriptions writes a few pages,
// not the whole session again (issue 10 item 5: it cost 12-40 ms and all
// the subscriptions' bytes per SUBSCRIBE). The subscriptions survive a
// restart.
func TestSubscribeWritesOnlyTheChange(t *testing.T) {
	const n = 10000
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MaxSubscriptions = 0 // this test holds 10,000
	ts := runServer(t, cfg, nil)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("many-subs", mqttwire.Persistent(3600))
	// 35-byte filters: the whole set is about 430 KB encoded.
	filter := func(i int) string { return fmt.Sprintf("fleet/site-%05d/device/+/telemetry/#", i) }
	for b := 0; b < n; b += 1000 {
		var fs []string
		for i := b; i < b+1000; i++ {
			fs = append(fs, filter(i))
		}
		subscribeMany(t, w, uint16(1+b/1000), fs)
	}

	before := writtenBytes(t)
	subscribeMany(t, w, 100, []string{filter(n)})
	sub := writtenBytes(t) - before

	before = writtenBytes(t)
	w.Send(&packets.Packet{Type: packets.UNSUBSCRIBE, PacketID: 101, Subscriptions: []packets.Subscription{{Filter: filter(7)}}},
		&packets.Packet{Type: packets.PINGREQ})
	w.Expect(packets.UNSUBACK)
	w.Expect(packets.PINGRESP)
	unsub := writtenBytes(t) - before

	// A change touches a leaf page and its parents plus bbolt's meta page:
	// a handful of 4 KiB pages. Rewriting the session writes > 400 KB.
	const limit = 64 << 10
	if sub > limit || unsub > limit {
		t.Errorf("SUBSCRIBE number %d wrote %d bytes, UNSUBSCRIBE %d bytes; want each <= %d (only the change)", n+1, sub, unsub, limit)
	}
	t.Logf("SUBSCRIBE %d: %d bytes written; UNSUBSCRIBE: %d bytes", n+1, sub, unsub)

	w.Send(&packets.Packet{Type: packets.DISCONNECT})
	w.ExpectClosed(5 * time.Second)
	ts.stop()
	ts2 := runServer(t, cfg, nil)
	subs := ts2.index.ClientSubs("many-subs")
	if len(subs) != n {
		t.Fatalf("after restart: %d subscriptions; want %d", len(subs), n)
	}
	for _, s := range subs {
		if s.Filter == filter(7) {
			t.Fatalf("after restart: unsubscribed filter %q is back", s.Filter)
		}
	}
}

// TestExpiryZeroReconnectDeletesStoredSession: a stored session whose
// client reconnects with Session Expiry 0 ends at that disconnect, in the
// store too; it used to stay there and come back after a restart with its
// old subscriptions (the check was on the new expiry only).
func TestExpiryZeroReconnectDeletesStoredSession(t *testing.T) {
	dir := t.TempDir()
	ts := runServer(t, testConfig(dir), nil)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("ghost", mqttwire.Persistent(3600))
	w.Subscribe(1, "ghost/#", 1)
	w.Send(&packets.Packet{Type: packets.DISCONNECT})
	w.ExpectClosed(5 * time.Second)

	w = mqttwire.Dial(t, ts.addr, packets.V5)
	if ack := w.Connect("ghost", mqttwire.Persistent(0)); !ack.SessionPresent {
		t.Fatal("Session Present = false on the reconnect; want the stored session")
	}
	w.Send(&packets.Packet{Type: packets.DISCONNECT})
	w.ExpectClosed(5 * time.Second)
	ts.stop()

	ts2 := runServer(t, testConfig(dir), nil)
	w = mqttwire.Dial(t, ts2.addr, packets.V5)
	if ack := w.Connect("ghost", mqttwire.Persistent(3600)); ack.SessionPresent {
		t.Errorf("Session Present = true after restart; want the session ended at the expiry-0 disconnect")
	}
	if subs := ts2.index.ClientSubs("ghost"); len(subs) != 0 {
		t.Errorf("subscriptions after restart = %+v; want none", subs)
	}
}
