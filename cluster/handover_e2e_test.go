package cluster

// The handover of what a session holds when its device reconnects at
// another replica: three replicas in one process (startReplicas) against
// the real Kafka. CLUSTER_TEST_HANDOVER_OFF=1 runs them with the handover
// off (cluster.handover_timeout 0), to see them fail.

import (
	"bufio"
	"context"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// handoverConfig applies CLUSTER_TEST_HANDOVER_OFF to a test cluster.
func handoverConfig(c *Config) {
	if os.Getenv("CLUSTER_TEST_HANDOVER_OFF") != "" {
		c.HandoverTimeout = 0
	}
}

// TestClusterHandoverOfflineQueue (issue 12, proof 3): a persistent
// session subscribes at r1 and goes offline; messages are published from
// r2 (a device) and from r1's Publish (the downlink's path) and queued at
// r1. It reconnects at r3: Session Present, and every queued message, in
// order, once.
func TestClusterHandoverOfflineQueue(t *testing.T) {
	rs := startReplicas(t, 3, handoverConfig, nil)
	id := clientName("hq")
	if code := parkOffline(t, rs, id, "hq/#", 2); code != 2 {
		t.Fatalf("SUBACK = %#x; want 2", code)
	}
	waitRoute(t, rs, id, "hq/#", "r1")

	pub := connectClient(t, rs[1].addr, clientName("pub"), "", true)
	const n = 30
	for i := range n {
		pub.publishQoS(t, "hq/dev", strconv.Itoa(i), 1+byte(i%2))
	}
	waitFor(t, defaultWait, "r1 to queue r2's copies", func() bool { return rs[0].router.Stats().Received >= n })
	const m = 20
	for i := n; i < n+m; i++ {
		done := make(chan error, 1)
		rs[0].srv.Publish(&mqttfront.Message{Topic: "hq/down", Payload: []byte(strconv.Itoa(i)), QoS: 1}, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatalf("Publish at r1: %v", err)
		}
	}

	back := connectClient(t, rs[2].addr, id, "", false)
	if !back.connack.SessionPresent {
		t.Fatalf("reconnect at r3: Session Present 0; want 1")
	}
	got := back.receive(t, n+m)
	if want := seqPayloads(0, n+m); !slices.Equal(payloads(got), want) {
		t.Fatalf("at r3: %v; want %v (every queued message, in order, once)", payloads(got), want)
	}
	for i, p := range got {
		if want := 1 + byte(i%2); i < n && p.QoS != want {
			t.Fatalf("message %d at QoS %d; want %d (the granted QoS moves with it)", i, p.QoS, want)
		}
	}
	back.expectNone(t, 500*time.Millisecond)
	if st := rs[0].router.Stats(); st.HandoversOut != 1 || st.HeldOut != n+m {
		t.Fatalf("r1 handed over %d sessions, %d messages; want 1 and %d", st.HandoversOut, st.HeldOut, n+m)
	}
	if st := rs[2].router.Stats(); st.HandoversIn != 1 || st.HandoversLate != 0 || st.HoldTimeouts != 0 {
		t.Fatalf("r3: %d handovers in, %d late, %d hold timeouts; want 1, 0, 0", st.HandoversIn, st.HandoversLate, st.HoldTimeouts)
	}
	if st := rs[0].srv.Stats(); st.Drops[mqttfront.DropSessionMoved.String()] != 0 {
		t.Fatalf("r1 dropped %d messages as session_moved; want 0", st.Drops[mqttfront.DropSessionMoved.String()])
	}
}

// TestClusterHandoverMidStream: a device online at r1 receives a
// continuous QoS 1 stream published at r2; it is slow (receive maximum
// 10, and it stops acknowledging after 20), so r1 holds an inflight window
// and a queue when the device reconnects at r3 mid-stream. At r3 nothing
// is lost, the order of the publisher is kept, and the only messages seen
// twice are those r1 sent and got no PUBACK for, redelivered with DUP.
func TestClusterHandoverMidStream(t *testing.T) {
	rs := startReplicas(t, 3, handoverConfig, nil)
	id := clientName("ms")
	const acked = 20
	var mu sync.Mutex
	var atR1 []*paho.Publish
	old := dialManual(t, rs[0].addr, id, 10, func(c *paho.Client, p *paho.Publish) {
		mu.Lock()
		atR1 = append(atR1, p)
		k := len(atR1)
		mu.Unlock()
		if k <= acked {
			_ = c.Ack(p)
		}
	})
	if code := old.subscribe(t, "ms/#", 1); code != 1 {
		t.Fatalf("SUBACK = %#x; want 1", code)
	}
	waitRoute(t, rs, id, "ms/#", "r1")

	pub := connectClient(t, rs[1].addr, clientName("pub"), "", true)
	const n = 300
	published := make(chan struct{})
	var pubErr error
	go func() {
		defer close(published)
		ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
		defer cancel()
		pace := time.NewTicker(5 * time.Millisecond) // a steady stream, across the move
		defer pace.Stop()
		for i := range n {
			<-pace.C
			if _, err := pub.Publish(ctx, &paho.Publish{Topic: "ms/t", QoS: 1, Payload: []byte(strconv.Itoa(i))}); err != nil {
				pubErr = err
				return
			}
		}
	}()
	waitFor(t, defaultWait, "r1's device to hold a full window", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(atR1) >= acked+10
	})
	waitFor(t, defaultWait, "r1 to queue more", func() bool { return rs[0].router.Stats().Received >= acked+20 })

	start := time.Now()
	back := connectClient(t, rs[2].addr, id, "", false) // mid-stream
	took := time.Since(start)
	if !back.connack.SessionPresent {
		t.Fatalf("reconnect at r3: Session Present 0; want 1")
	}
	select {
	case d := <-old.disconnects:
		if d.ReasonCode != 0x8E {
			t.Fatalf("r1's connection closed with %#x; want 0x8E", d.ReasonCode)
		}
	case <-time.After(defaultWait):
		t.Fatalf("r1's connection not closed")
	}
	<-published
	if pubErr != nil {
		t.Fatalf("publisher at r2: %v", pubErr)
	}

	mu.Lock()
	seenAtR1 := map[string]bool{}
	ackedAtR1 := map[string]bool{}
	for i, p := range atR1 {
		seenAtR1[string(p.Payload)] = true
		if i < acked {
			ackedAtR1[string(p.Payload)] = true
		}
	}
	mu.Unlock()
	var got []*paho.Publish
	deadline := time.After(defaultWait)
	for have := map[string]bool{}; len(have)+len(ackedAtR1) < n; {
		select {
		case p := <-back.got:
			got = append(got, p)
			have[string(p.Payload)] = true
		case <-deadline:
			var lost []string
			for i := range n {
				if s := strconv.Itoa(i); !have[s] && !ackedAtR1[s] {
					lost = append(lost, s)
				}
			}
			t.Fatalf("lost across the move: %v (r3 received %d, r1 had acked %d)", lost, len(got), len(ackedAtR1))
		}
	}
	back.expectNone(t, 500*time.Millisecond)
	last, dups := -1, 0
	seen := map[string]bool{}
	for _, p := range got {
		s := string(p.Payload)
		v, _ := strconv.Atoi(s)
		switch {
		case seen[s]:
			t.Fatalf("%s received twice at r3", s)
		case ackedAtR1[s]:
			t.Fatalf("%s received at r3 after r1's device acknowledged it", s)
		case seenAtR1[s] && !p.Duplicate():
			t.Fatalf("%s redelivered at r3 without DUP (r1 had sent it unacknowledged)", s)
		case v <= last:
			t.Fatalf("at r3, %d after %d: the publisher's order is not kept (%v)", v, last, payloads(got))
		}
		if seenAtR1[s] {
			dups++
		}
		seen[s], last = true, v
	}
	st := rs[0].router.Stats()
	if st.HandoversOut != 1 || st.FenceTimeouts != 0 {
		t.Fatalf("r1: %d handovers, %d without every fence; want 1 and 0", st.HandoversOut, st.FenceTimeouts)
	}
	for _, r := range rs[1:] {
		if r.router.Stats().FencesSent == 0 {
			t.Fatalf("%s sent no fence to r1", r.id)
		}
	}
	if d := rs[2].router.Stats().DroppedNoSession; d != 0 {
		t.Fatalf("r3 dropped %d copies for a session it owned but had not built yet; want 0 (the inbox waits for it)", d)
	}
	t.Logf("CONNECT at r3 (handover included) took %v; r1 received %d (acked %d) and handed over %d; r3 received %d, of which %d DUP redeliveries",
		took, len(seenAtR1), len(ackedAtR1), st.HeldOut, len(got), dups)
}

// dialManual connects a v5 client that acknowledges only when onPublish
// calls c.Ack, with a session expiry of 300 s and receiveMax.
func dialManual(t *testing.T, addr, id string, receiveMax uint16, onPublish func(*paho.Client, *paho.Publish)) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &client{disconnects: make(chan *paho.Disconnect, 1), got: make(chan *paho.Publish, 1024)}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID:                   id,
		Conn:                       nc,
		EnableManualAcknowledgment: true,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			onPublish(c.Client, pr.Packet)
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.disconnects <- d:
			default:
			}
		},
		OnClientError: func(error) {},
		PacketTimeout: defaultWait,
	})
	cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(300), ReceiveMaximum: u16(receiveMax)}}
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	if c.connack, err = c.Connect(ctx, cp); err != nil {
		t.Fatalf("connect %s to %s: %v", id, addr, err)
	}
	t.Cleanup(c.close)
	return c
}

func u16(v uint16) *uint16 { return &v }

// TestClusterHandoverQoS2: the QoS 2 state moves with the session. At r1
// the device has an outbound message PUBREC'd (PUBREL pending its
// PUBCOMP), another sent but not acknowledged, and an inbound QoS 2
// publish PUBREC'd but not released. Reconnected at r3 it gets the
// PUBREL and the unacknowledged PUBLISH again (DUP), in their order; its
// inbound PUBLISH sent again is acknowledged, not delivered twice
// [MQTT-4.3.3-9].
func TestClusterHandoverQoS2(t *testing.T) {
	rs := startReplicas(t, 3, handoverConfig, nil)
	id := clientName("q2")
	w1 := dialWire(t, rs[0].addr)
	w1.connect(t, id, true)
	w1.send(t, &packets.Packet{Type: packets.SUBSCRIBE, PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "q2/out/#", QoS: 2}}})
	w1.expect(t, packets.SUBACK)
	waitRoute(t, rs, id, "q2/out/#", "r1")
	watcher := connectClient(t, rs[1].addr, clientName("watch"), "", true)
	watcher.subscribe(t, "q2/in", 2)
	waitRoute(t, rs, watcher.ClientID(), "q2/in", "r2")

	pub := connectClient(t, rs[1].addr, clientName("pub"), "", true)
	pub.publishQoS(t, "q2/out/a", "a", 2)
	pa := w1.expect(t, packets.PUBLISH)
	w1.send(t, &packets.Packet{Type: packets.PUBREC, PacketID: pa.PacketID})
	if rel := w1.expect(t, packets.PUBREL); rel.PacketID != pa.PacketID {
		t.Fatalf("PUBREL %d; want %d", rel.PacketID, pa.PacketID)
	}
	pub.publishQoS(t, "q2/out/b", "b", 2)
	pb := w1.expect(t, packets.PUBLISH) // not acknowledged
	if string(pa.Payload) != "a" || string(pb.Payload) != "b" {
		t.Fatalf("r1 sent %q, %q; want a, b", pa.Payload, pb.Payload)
	}

	w1.send(t, &packets.Packet{Type: packets.PUBLISH, Topic: "q2/in", Payload: []byte("in"), QoS: 2, PacketID: 7})
	if rec := w1.expect(t, packets.PUBREC); rec.PacketID != 7 {
		t.Fatalf("PUBREC %d; want 7", rec.PacketID)
	}
	watcher.expect(t, "q2/in", "in")

	w3 := dialWire(t, rs[2].addr)
	if ack := w3.connect(t, id, false); !ack.SessionPresent {
		t.Fatalf("reconnect at r3: Session Present 0; want 1")
	}
	if d := w1.expect(t, packets.DISCONNECT); d.ReasonCode != packets.SessionTakenOver {
		t.Fatalf("r1's DISCONNECT %#x; want 0x8E", d.ReasonCode)
	}
	rel := w3.expect(t, packets.PUBREL)
	if rel.PacketID != pa.PacketID {
		t.Fatalf("r3: PUBREL %d; want %d (the outbound QoS 2 flow PUBREC'd at r1)", rel.PacketID, pa.PacketID)
	}
	again := w3.expect(t, packets.PUBLISH)
	if again.PacketID != pb.PacketID || !again.Dup || string(again.Payload) != "b" || again.QoS != 2 {
		t.Fatalf("r3 sent PUBLISH id %d dup %v %q QoS %d; want id %d, DUP, \"b\", QoS 2", again.PacketID, again.Dup, again.Payload, again.QoS, pb.PacketID)
	}
	w3.send(t, &packets.Packet{Type: packets.PUBCOMP, PacketID: rel.PacketID}, &packets.Packet{Type: packets.PUBREC, PacketID: again.PacketID})
	if r := w3.expect(t, packets.PUBREL); r.PacketID != again.PacketID {
		t.Fatalf("PUBREL %d; want %d", r.PacketID, again.PacketID)
	}
	w3.send(t, &packets.Packet{Type: packets.PUBCOMP, PacketID: again.PacketID})

	// The inbound flow: the PUBLISH sent again is not delivered again.
	w3.send(t, &packets.Packet{Type: packets.PUBLISH, Topic: "q2/in", Payload: []byte("in"), QoS: 2, PacketID: 7, Dup: true})
	if rec := w3.expect(t, packets.PUBREC); rec.PacketID != 7 {
		t.Fatalf("r3: PUBREC %d; want 7", rec.PacketID)
	}
	w3.send(t, &packets.Packet{Type: packets.PUBREL, PacketID: 7})
	if comp := w3.expect(t, packets.PUBCOMP); comp.PacketID != 7 || comp.ReasonCode != 0 {
		t.Fatalf("r3: PUBCOMP %d %#x; want 7, 0", comp.PacketID, comp.ReasonCode)
	}
	watcher.expectNone(t, 500*time.Millisecond)
	w3.expectNothing(t, 300*time.Millisecond)
}

// wire is a raw MQTT 5 connection for the QoS 2 flows.
type wire struct {
	nc net.Conn
	br *bufio.Reader
}

func dialWire(t *testing.T, addr string) *wire {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &wire{nc: nc, br: bufio.NewReader(nc)}
}

func (w *wire) send(t *testing.T, ps ...*packets.Packet) {
	t.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = packets.Encode(b, p, packets.V5); err != nil {
			t.Fatalf("encode %v: %v", p.Type, err)
		}
	}
	if _, err := w.nc.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (w *wire) read(d time.Duration) (*packets.Packet, error) {
	_ = w.nc.SetReadDeadline(time.Now().Add(d))
	return packets.Read(w.br, packets.V5, 0)
}

func (w *wire) expect(t *testing.T, typ packets.Type) *packets.Packet {
	t.Helper()
	p, err := w.read(defaultWait)
	if err != nil {
		t.Fatalf("expecting %v: %v", typ, err)
	}
	if p.Type != typ {
		t.Fatalf("got %v (%+v); want %v", p.Type, p, typ)
	}
	return p
}

func (w *wire) expectNothing(t *testing.T, d time.Duration) {
	t.Helper()
	if p, err := w.read(d); err == nil {
		t.Fatalf("unexpected %v %+v", p.Type, p)
	}
}

// connect sends a v5 CONNECT with a session expiry of 300 s and returns
// the CONNACK.
func (w *wire) connect(t *testing.T, id string, clean bool) *packets.Packet {
	t.Helper()
	p := &packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5,
		CleanStart: clean, KeepAlive: 60, ClientID: id}}
	p.Properties.SessionExpiry, p.Properties.SessionExpirySet = 300, true
	w.send(t, p)
	ack := w.expect(t, packets.CONNACK)
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	return ack
}
