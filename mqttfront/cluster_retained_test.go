package mqttfront

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// runServerHooks is runServer with a setup step between New and Run, where
// the cluster hooks are installed.
func runServerHooks(t testing.TB, cfg Config, sink Sink, setup func(*Server)) *testSrv {
	t.Helper()
	if sink == nil {
		sink = &fakeSink{}
	}
	s, err := New(cfg, sink, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	setup(s)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("Run returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testSrv{Server: s, addr: s.Addr("tcp").String(), stop: stop}
}

// gate is an Admission the test opens and closes.
type gate struct {
	mu  sync.Mutex
	err error
}

func (g *gate) Admit() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

func (g *gate) set(err error) {
	g.mu.Lock()
	g.err = err
	g.mu.Unlock()
}

// TestAdmissionRefusesConnect: while the admission check refuses (a
// replica catching up), CONNECT gets v5 CONNACK 0x88 / v3 0x03 and the
// connection is closed, counted as server_unavailable and
// cluster_not_ready; once it admits, the same client connects.
func TestAdmissionRefusesConnect(t *testing.T) {
	g := &gate{err: errors.New("cluster: catching up")}
	srv := runServerHooks(t, testConfig(t.TempDir()), nil, func(s *Server) { s.SetAdmission(g) })
	for _, tc := range []struct {
		v    packets.Version
		want packets.ReasonCode
	}{
		{packets.V311, packets.V3ServerUnavailable}, // 3.1.1 §3.2.2.3: 0x03 Server unavailable
		{packets.V5, packets.ServerUnavailable},     // 5.0 §3.2.2.2: 0x88 Server unavailable
	} {
		w := mqttwire.Dial(t, srv.addr, tc.v)
		ack := w.Connect("early-" + versionName(tc.v))
		if ack.ReasonCode != tc.want {
			t.Errorf("%s: CONNACK %#x while not admitted; want %#x", versionName(tc.v), byte(ack.ReasonCode), byte(tc.want))
		}
		if tc.v == packets.V5 && ack.Properties.ReasonString != "" {
			t.Logf("reason string %q", ack.Properties.ReasonString)
		}
		w.ExpectClosed(5 * time.Second)
	}
	st := srv.Stats()
	if st.Connects["server_unavailable"] != 2 || st.Disconnects["cluster_not_ready"] != 2 {
		t.Errorf("Stats: connects %v, disconnects %v; want server_unavailable 2 and cluster_not_ready 2", st.Connects, st.Disconnects)
	}
	g.set(nil)
	w := mqttwire.Dial(t, srv.addr, packets.V5)
	if ack := w.Connect("early-v5"); ack.ReasonCode != packets.Success {
		t.Fatalf("CONNACK %#x once admitted; want success", byte(ack.ReasonCode))
	}
}

// heldStore is a RetainedStore whose completions the test calls.
type heldStore struct {
	mu    sync.Mutex
	msgs  []*Message
	dones []func(error)
}

func (h *heldStore) SetRetained(m *Message, done func(error)) {
	h.mu.Lock()
	h.msgs = append(h.msgs, m)
	h.dones = append(h.dones, done)
	h.mu.Unlock()
}

func (h *heldStore) n() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs)
}

func (h *heldStore) get(i int) (*Message, func(error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.msgs[i], h.dones[i]
}

// TestSharedRetainedAckWaitsForStore: in cluster mode a retained QoS 1
// publish is acked only once the shared store confirmed it (besides the
// Sink), the local trie changes only through ApplyRetained, and a store
// failure is the PUBACK's error (v5 0x80).
func TestSharedRetainedAckWaitsForStore(t *testing.T) {
	hs := &heldStore{}
	srv := runServerHooks(t, testConfig(t.TempDir()), nil, func(s *Server) { s.SetRetainedStore(hs) })
	w := mqttwire.Dial(t, srv.addr, packets.V5)
	w.Connect("pub")
	p := mqttwire.Publish("r/a", "A", 1, 1)
	p.Retain = true
	w.Send(p)
	waitFor(t, 5*time.Second, "SetRetained", func() bool { return hs.n() == 1 })
	w.ExpectNothing(200 * time.Millisecond) // no PUBACK before the store's confirmation
	m, done := hs.get(0)
	if m.Topic != "r/a" || string(m.Payload) != "A" || !m.Retain {
		t.Fatalf("SetRetained(%q, %q, retain %v); want r/a A retained", m.Topic, m.Payload, m.Retain)
	}
	if srv.Stats().Retained != 0 {
		t.Fatalf("retained trie has %d messages before the log applied any; want 0 (never ahead of the log)", srv.Stats().Retained)
	}
	done(nil)
	if ack := w.Expect(packets.PUBACK); ack.ReasonCode != packets.Success || ack.PacketID != 1 {
		t.Fatalf("PUBACK %d %#x; want 1 success", ack.PacketID, byte(ack.ReasonCode))
	}

	// A subscriber sees it only once applied.
	s := mqttwire.Dial(t, srv.addr, packets.V311)
	s.Connect("sub")
	s.Subscribe(1, "r/#", 1)
	s.ExpectNothing(100 * time.Millisecond)
	srv.ApplyRetained("r/a", &Message{Payload: []byte("A"), QoS: 1})
	s.Subscribe(2, "r/a", 1)
	if got := s.Expect(packets.PUBLISH); got.Topic != "r/a" || string(got.Payload) != "A" || !got.Retain {
		t.Fatalf("on subscribe after apply: %q %q retain %v; want r/a A retained", got.Topic, got.Payload, got.Retain)
	}

	// Empty payload: a clear goes to the store, the trie waits for the log.
	p = mqttwire.Publish("r/a", "", 1, 2)
	p.Retain = true
	w.Send(p)
	waitFor(t, 5*time.Second, "SetRetained of the clear", func() bool { return hs.n() == 2 })
	m, done = hs.get(1)
	if len(m.Payload) != 0 {
		t.Fatalf("clear: SetRetained payload %q; want empty", m.Payload)
	}
	if srv.Stats().Retained != 1 {
		t.Fatalf("retained count %d before the clear is applied; want 1", srv.Stats().Retained)
	}
	done(nil)
	w.Expect(packets.PUBACK)
	srv.ApplyRetained("r/a", nil)
	if st := srv.Stats(); st.Retained != 0 || st.RetainedBytes != 0 {
		t.Fatalf("after the clear: %d retained, %d bytes; want 0, 0", st.Retained, st.RetainedBytes)
	}

	// A store failure fails the publish: v5 PUBACK 0x80.
	p = mqttwire.Publish("r/b", "B", 1, 3)
	p.Retain = true
	w.Send(p)
	waitFor(t, 5*time.Second, "SetRetained r/b", func() bool { return hs.n() == 3 })
	_, done = hs.get(2)
	done(errors.New("kafka down"))
	if ack := w.Expect(packets.PUBACK); ack.ReasonCode != packets.UnspecifiedError {
		t.Fatalf("PUBACK %#x after the store failed; want 0x80", byte(ack.ReasonCode))
	}
}

// TestSharedRetainedLimits: max_retained still applies in cluster mode,
// counted against what was applied; a refused v5 QoS 1 publish gets 0x97
// and never reaches the store. Applied records are not refused.
func TestSharedRetainedLimits(t *testing.T) {
	hs := &heldStore{}
	cfg := testConfig(t.TempDir())
	cfg.MaxRetained = 1
	srv := runServerHooks(t, cfg, nil, func(s *Server) { s.SetRetainedStore(hs) })
	srv.ApplyRetained("full/1", &Message{Payload: []byte("x")})
	srv.ApplyRetained("full/2", &Message{Payload: []byte("y")}) // beyond the limit, applied anyway: the log decides
	if n := srv.Stats().Retained; n != 2 {
		t.Fatalf("%d retained after applying 2; want 2", n)
	}
	w := mqttwire.Dial(t, srv.addr, packets.V5)
	w.Connect("pub")
	p := mqttwire.Publish("full/3", "z", 1, 1)
	p.Retain = true
	w.Send(p)
	if ack := w.Expect(packets.PUBACK); ack.ReasonCode != packets.QuotaExceeded {
		t.Fatalf("PUBACK %#x beyond max_retained; want 0x97", byte(ack.ReasonCode))
	}
	if hs.n() != 0 {
		t.Fatalf("SetRetained called %d times for a refused message; want 0", hs.n())
	}
	if got := srv.Stats().Limits["max_retained"]; got != 1 {
		t.Fatalf("limit hits max_retained = %d; want 1", got)
	}
}

// TestSharedRetainedPublishAndWill: Publish (downlink, admin API) waits
// for the store and is refused as a whole when it fails; a retained will
// goes to the store too.
func TestSharedRetainedPublishAndWill(t *testing.T) {
	hs := &heldStore{}
	srv := runServerHooks(t, testConfig(t.TempDir()), nil, func(s *Server) { s.SetRetainedStore(hs) })
	s := mqttwire.Dial(t, srv.addr, packets.V311)
	s.Connect("sub")
	s.Subscribe(1, "dl/#", 1)

	res := make(chan error, 1)
	go srv.Publish(&Message{Topic: "dl/x", Payload: []byte("X"), QoS: 1, Retain: true}, func(err error) { res <- err })
	waitFor(t, 5*time.Second, "SetRetained from Publish", func() bool { return hs.n() == 1 })
	select {
	case err := <-res:
		t.Fatalf("Publish completed (%v) before the store confirmed", err)
	case <-time.After(100 * time.Millisecond):
	}
	_, done := hs.get(0)
	done(errors.New("kafka down"))
	if err := <-res; err == nil {
		t.Fatal("Publish succeeded although the store failed")
	}
	s.ExpectNothing(100 * time.Millisecond) // refused as a whole: not routed

	go srv.Publish(&Message{Topic: "dl/x", Payload: []byte("X2"), QoS: 1, Retain: true}, func(err error) { res <- err })
	waitFor(t, 5*time.Second, "second SetRetained", func() bool { return hs.n() == 2 })
	_, done = hs.get(1)
	done(nil)
	if err := <-res; err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := s.Expect(packets.PUBLISH); string(got.Payload) != "X2" {
		t.Fatalf("routed %q; want X2", got.Payload)
	}

	wl := mqttwire.Dial(t, srv.addr, packets.V311)
	wl.Connect("willer", func(p *packets.Packet) {
		mqttwire.Will("dl/will", "gone", 1, 0)(p)
		p.Connect.WillRetain = true
	})
	wl.Close() // abrupt: the will is published
	waitFor(t, 5*time.Second, "the will's SetRetained", func() bool { return hs.n() == 3 })
	if m, done := hs.get(2); m.Topic != "dl/will" || string(m.Payload) != "gone" {
		t.Fatalf("will SetRetained %q %q; want dl/will gone", m.Topic, m.Payload)
	} else {
		done(nil)
	}
}

// TestSharedRetainedNotInStore: in cluster mode mqtt.db neither holds nor
// restores retained messages (the cluster's retained topic is the source);
// off again, what the single node stored comes back.
func TestSharedRetainedNotInStore(t *testing.T) {
	dir := t.TempDir()
	single := runServer(t, testConfig(dir), nil)
	w := mqttwire.Dial(t, single.addr, packets.V311)
	w.Connect("pub")
	p := mqttwire.Publish("old/r", "single", 1, 1)
	p.Retain = true
	w.Send(p)
	w.Expect(packets.PUBACK)
	single.stop()

	hs := &heldStore{}
	clustered := runServerHooks(t, testConfig(dir), nil, func(s *Server) { s.SetRetainedStore(hs) })
	if n := clustered.Stats().Retained; n != 0 {
		t.Fatalf("cluster mode restored %d retained messages from mqtt.db; want 0", n)
	}
	clustered.ApplyRetained("new/r", &Message{Payload: []byte("cluster")})
	clustered.stop()

	again := runServer(t, testConfig(dir), nil)
	infos := again.RetainedMessages("#", 10)
	if len(infos) != 1 || infos[0].Topic != "old/r" {
		t.Fatalf("single node after cluster mode retained %+v; want only old/r (cluster records never enter mqtt.db)", infos)
	}
}

// TestResetRetainedKeepsSys: a rebuild drops every retained message but
// the server's own $SYS topics.
func TestResetRetainedKeepsSys(t *testing.T) {
	s, err := New(testConfig(""), &fakeSink{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.putRetained(&Message{Topic: "$SYS/broker/uptime", Payload: []byte("1")})
	s.ApplyRetained("a/b", &Message{Payload: []byte("x")})
	s.ApplyRetained("c", &Message{Payload: []byte("yy")})
	s.ResetRetained()
	if n := s.retained.Len(); n != 1 {
		t.Fatalf("%d retained after reset; want 1 ($SYS)", n)
	}
	if _, ok := s.retained.Get("$SYS/broker/uptime"); !ok {
		t.Fatal("$SYS retained message dropped by ResetRetained")
	}
	if got, want := s.retainedSize(), int64(len("$SYS/broker/uptime")+1); got != want {
		t.Fatalf("retained bytes %d after reset; want %d", got, want)
	}
}

// TestSharedRetainedACLOnDelivery: retained messages applied from the
// shared store go through the delivery ACL like any other: a granted '#'
// does not deliver a denied topic.
func TestSharedRetainedACLOnDelivery(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Auth.ACL = auth.ACLConfig{NoMatch: "allow", Rules: []auth.ACLRule{
		{Permission: "deny", Action: "all", Topics: []string{"secret/#"}},
	}}
	srv := runServerHooks(t, cfg, nil, func(s *Server) { s.SetRetainedStore(&heldStore{}) })
	srv.ApplyRetained("secret/x", &Message{Payload: []byte("hidden")})
	srv.ApplyRetained("open/x", &Message{Payload: []byte("shown")})
	w := mqttwire.Dial(t, srv.addr, packets.V311)
	w.Connect("sub")
	w.Subscribe(1, "#", 1)
	if got := w.Expect(packets.PUBLISH); got.Topic != "open/x" {
		t.Fatalf("retained on subscribe to #: %q; want only open/x", got.Topic)
	}
	w.ExpectNothing(200 * time.Millisecond)
	if n := srv.Stats().Drops["delivery_not_authorized"]; n != 1 {
		t.Fatalf("delivery_not_authorized drops %d; want 1 (secret/x)", n)
	}
}
