package mqttfront

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// countSink confirms every message and keeps only a count, so a test can
// measure what the server itself holds.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Submit(_ *Message, done func(error)) {
	s.n.Add(1)
	if done != nil {
		done(nil)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestRetainedBytesLimit: 200 retained messages of 1 MB against a 50 MiB
// max_retained_bytes. A v5 client gets PUBACK 0x97 for every one beyond the
// limit, the refused ones reach neither the Sink nor the retained store, and
// the heap stays near the limit (without it, ~200 MB).
func TestRetainedBytesLimit(t *testing.T) {
	const limit = 50 << 20
	const n, size = 200, 1_000_000
	cfg := testConfig("")
	cfg.MaxRetainedBytes = limit
	sink := &countSink{}
	ts := runServer(t, cfg, sink)
	before := heapAlloc()

	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("big-retainer")
	payload := bytes.Repeat([]byte("r"), size)
	accepted, refused := 0, 0
	for i := range n {
		p := mqttwire.Publish(fmt.Sprintf("ret/%03d", i), "", 1, uint16(i+1))
		p.Payload, p.Retain = payload, true
		w.Send(p)
		ack := w.Expect(packets.PUBACK)
		switch ack.ReasonCode {
		case packets.Success:
			if refused > 0 {
				t.Fatalf("publish %d accepted after an earlier one was refused", i)
			}
			accepted++
		case packets.QuotaExceeded:
			refused++
		default:
			t.Fatalf("publish %d: PUBACK %v; want 0x00 or 0x97 Quota exceeded", i, ack.ReasonCode)
		}
	}
	if wantMax := limit / size; accepted > wantMax || accepted < wantMax-2 {
		t.Errorf("%d retained publishes accepted; want about %d (50 MiB / 1 MB)", accepted, wantMax)
	}
	if refused == 0 {
		t.Fatalf("no publish refused with 0x97 beyond max_retained_bytes")
	}
	st := ts.Stats()
	if st.Retained != accepted {
		t.Errorf("Stats.Retained = %d; want %d", st.Retained, accepted)
	}
	if got := st.Drops["retained_quota"]; got != uint64(refused) {
		t.Errorf("Drops[retained_quota] = %d; want %d", got, refused)
	}
	if got := st.Limits["max_retained_bytes"]; got != uint64(refused) {
		t.Errorf("Limits[max_retained_bytes] = %d; want %d", got, refused)
	}
	if got := sink.n.Load(); got != int64(accepted) {
		t.Errorf("Sink got %d messages; want %d (a refused v5 publish is not forwarded)", got, accepted)
	}
	grown := int64(heapAlloc()) - int64(before)
	t.Logf("heap grew %.1f MiB for %d retained (limit %d MiB)", float64(grown)/(1<<20), accepted, limit>>20)
	if grown > limit+20<<20 {
		t.Errorf("heap grew %d MiB; want at most the 50 MiB limit plus 20 MiB", grown>>20)
	}
	// Replacing a retained message by a smaller one, and clearing one,
	// always work, and the room freed takes a new topic again.
	clr := mqttwire.Publish("ret/000", "", 1, 1)
	clr.Retain = true
	w.Send(clr)
	if ack := w.Expect(packets.PUBACK); ack.ReasonCode != packets.Success {
		t.Errorf("clearing a retained message: PUBACK %v; want success", ack.ReasonCode)
	}
	again := mqttwire.Publish("ret/new", "", 1, 2)
	again.Payload, again.Retain = payload, true
	w.Send(again)
	if ack := w.Expect(packets.PUBACK); ack.ReasonCode != packets.Success {
		t.Errorf("retained publish after room was freed: PUBACK %v; want success", ack.ReasonCode)
	}
}

// TestRetainedBytesLimitV3AndPublish: a v3 client cannot be told; its
// retained publish beyond the limit is acked, forwarded to the Sink and to
// subscribers, but not retained. Publish (downlink) gets an error carrying
// 0x97 and the message is not routed, so a retry does not duplicate it.
func TestRetainedBytesLimitV3AndPublish(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxPacketSize = 1024
	cfg.MaxRetainedBytes = 1024
	sink := &fakeSink{}
	ts := runServer(t, cfg, sink)
	sub := mqttwire.Dial(t, ts.addr, packets.V311)
	sub.Connect("watcher")
	sub.Subscribe(1, "v3r/#", 1)

	w := mqttwire.Dial(t, ts.addr, packets.V311)
	w.Connect("v3-retainer")
	big := strings.Repeat("x", 600)
	for i, topic := range []string{"v3r/a", "v3r/b"} {
		p := mqttwire.Publish(topic, big, 1, uint16(i+1))
		p.Retain = true
		w.Send(p)
		if ack := w.Expect(packets.PUBACK); ack.ReasonCode != packets.Success {
			t.Fatalf("v3 PUBACK %v; want 0x00", ack.ReasonCode)
		}
		d := sub.Expect(packets.PUBLISH)
		if d.Topic != topic {
			t.Fatalf("subscriber got %q; want %q", d.Topic, topic)
		}
		sub.Send(&packets.Packet{Type: packets.PUBACK, PacketID: d.PacketID})
	}
	waitFor(t, 5*time.Second, "both messages at the Sink", func() bool { return sink.Len() == 2 })
	st := ts.Stats()
	if st.Retained != 1 || st.Drops["retained_quota"] != 1 {
		t.Errorf("retained %d, drops %v; want 1 retained and 1 retained_quota", st.Retained, st.Drops)
	}

	var got error
	ts.Publish(&Message{Topic: "v3r/c", Payload: []byte(big), QoS: 1, Retain: true}, func(err error) { got = err })
	if !errors.Is(got, ErrRetainedQuota) || packets.Code(got) != packets.QuotaExceeded {
		t.Errorf("Publish over max_retained_bytes: done(%v); want ErrRetainedQuota carrying 0x97", got)
	}
	sub.ExpectNothing(200 * time.Millisecond)
}

// TestSessionQueueBytesLimit: an offline session's queue stops at
// max_session_queue_bytes; Publish gets ErrQueueFull (0x97) for the rest,
// which are counted queue_full; the session gets exactly the queued ones.
func TestSessionQueueBytesLimit(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxSessionQueueBytes = 10_000
	ts := runServer(t, cfg, nil)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("queued", mqttwire.Persistent(3600))
	w.Subscribe(1, "sq/t", 1)
	w.Send(&packets.Packet{Type: packets.DISCONNECT})
	w.ExpectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "the session offline", func() bool { return ts.Stats().SessionsOnline == 0 })

	payload := bytes.Repeat([]byte("q"), 1000)
	ok, full := 0, 0
	for range 30 {
		var got error
		ts.Publish(&Message{Topic: "sq/t", Payload: payload, QoS: 1}, func(err error) { got = err })
		switch {
		case got == nil:
			if full > 0 {
				t.Fatal("Publish accepted after the queue was full")
			}
			ok++
		case errors.Is(got, ErrQueueFull) && packets.Code(got) == packets.QuotaExceeded:
			full++
		default:
			t.Fatalf("Publish: done(%v); want nil or ErrQueueFull", got)
		}
	}
	if ok < 8 || ok > 10 {
		t.Errorf("%d messages of 1 KB queued under a 10,000-byte limit; want 9 or so", ok)
	}
	st := ts.Stats()
	if st.Drops["queue_full"] != uint64(full) || st.Limits["max_session_queue_bytes"] != uint64(full) {
		t.Errorf("drops %v limits %v; want queue_full and max_session_queue_bytes = %d", st.Drops, st.Limits, full)
	}
	w2 := mqttwire.Dial(t, ts.addr, packets.V5)
	if ack := w2.Connect("queued", mqttwire.Persistent(3600)); !ack.SessionPresent {
		t.Fatal("session not present on reconnect")
	}
	for i := range ok {
		p := w2.Expect(packets.PUBLISH)
		w2.Send(&packets.Packet{Type: packets.PUBACK, PacketID: p.PacketID})
		_ = i
	}
	w2.ExpectNothing(200 * time.Millisecond)
}

// TestMaxSubscriptions: beyond max_subscriptions a filter gets SUBACK 0x97
// (v5) or 0x80 (v3); replacing a filter the client has is still granted.
func TestMaxSubscriptions(t *testing.T) {
	for _, tc := range []struct {
		v    packets.Version
		fail packets.ReasonCode
	}{{packets.V5, packets.QuotaExceeded}, {packets.V311, packets.V3SubackFailure}} {
		t.Run(versionName(tc.v), func(t *testing.T) {
			cfg := testConfig("")
			cfg.MaxSubscriptions = 2
			ts := runServer(t, cfg, nil)
			w := mqttwire.Dial(t, ts.addr, tc.v)
			w.Connect("subber")
			w.Send(&packets.Packet{Type: packets.SUBSCRIBE, PacketID: 1, Subscriptions: []packets.Subscription{
				{Filter: "s/1", QoS: 1}, {Filter: "s/2", QoS: 1}, {Filter: "s/3", QoS: 1}}})
			sa := w.Expect(packets.SUBACK)
			want := []packets.ReasonCode{packets.GrantedQoS1, packets.GrantedQoS1, tc.fail}
			if fmt.Sprint(sa.ReasonCodes) != fmt.Sprint(want) {
				t.Errorf("SUBACK %v; want %v", sa.ReasonCodes, want)
			}
			if got := w.Subscribe(2, "s/1", 0).ReasonCodes; len(got) != 1 || got[0] != packets.GrantedQoS0 {
				t.Errorf("re-subscribing an existing filter: SUBACK %v; want granted QoS 0", got)
			}
			st := ts.Stats()
			if st.Subscriptions != 2 || st.Limits["max_subscriptions"] != 1 {
				t.Errorf("subscriptions %d limits %v; want 2 and max_subscriptions=1", st.Subscriptions, st.Limits)
			}
		})
	}
}

// TestMaxSessions: with max_sessions=2 a CONNECT for a third client id is
// refused (v5 0x97, v3 0x03) while the held sessions may reconnect.
func TestMaxSessions(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxSessions = 2
	ts := runServer(t, cfg, nil)
	off := mqttwire.Dial(t, ts.addr, packets.V311)
	off.Connect("kept-offline", mqttwire.Persistent(0))
	off.Send(&packets.Packet{Type: packets.DISCONNECT})
	off.ExpectClosed(5 * time.Second)
	on := mqttwire.Dial(t, ts.addr, packets.V5)
	on.Connect("online")

	for _, tc := range []struct {
		v    packets.Version
		want packets.ReasonCode
	}{{packets.V5, packets.QuotaExceeded}, {packets.V311, packets.V3ServerUnavailable}} {
		w := mqttwire.Dial(t, ts.addr, tc.v)
		if ack := w.Connect("one-too-many"); ack.ReasonCode != tc.want {
			t.Errorf("%s CONNACK %v for a session beyond max_sessions; want %v", versionName(tc.v), ack.ReasonCode, tc.want)
		}
		w.ExpectClosed(5 * time.Second)
	}
	back := mqttwire.Dial(t, ts.addr, packets.V311)
	if ack := back.Connect("kept-offline", mqttwire.Persistent(0)); ack.ReasonCode != 0 || !ack.SessionPresent {
		t.Errorf("held session reconnect: CONNACK %v present=%v; want accepted with the session", ack.ReasonCode, ack.SessionPresent)
	}
	st := ts.Stats()
	if st.Sessions != 2 || st.Limits["max_sessions"] != 2 || st.Disconnects["max_sessions"] != 2 {
		t.Errorf("sessions %d limits %v disconnects %v; want 2 sessions, max_sessions hit twice", st.Sessions, st.Limits, st.Disconnects)
	}
}

// TestMaxRetainedV5Refused: the topic-count limit answers a v5 QoS 1
// retained publish like the byte limit: PUBACK 0x97, not forwarded.
func TestMaxRetainedV5Refused(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxRetained = 1
	sink := &fakeSink{}
	ts := runServer(t, cfg, sink)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("rt5")
	for i, tc := range []struct {
		topic string
		want  packets.ReasonCode
	}{{"r/1", packets.Success}, {"r/2", packets.QuotaExceeded}, {"r/1", packets.Success}} {
		p := mqttwire.Publish(tc.topic, "v", 1, uint16(i+1))
		p.Retain = true
		w.Send(p)
		if ack := w.Expect(packets.PUBACK); ack.ReasonCode != tc.want {
			t.Errorf("retained publish %d to %s: PUBACK %v; want %v", i, tc.topic, ack.ReasonCode, tc.want)
		}
	}
	st := ts.Stats()
	if sink.Len() != 2 || st.Drops["retained_full"] != 1 || st.Limits["max_retained"] != 1 {
		t.Errorf("sink %d, drops %v, limits %v; want 2 forwarded, retained_full and max_retained 1", sink.Len(), st.Drops, st.Limits)
	}
}

// TestLimitHitLogsOnce: a limit hit is counted every time and logged once a
// minute per limit; the next line says how many were suppressed.
func TestLimitHitLogsOnce(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	s, err := New(testConfig(""), &fakeSink{}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	s.limitLog.now = func() time.Time { return now }
	for range 3 {
		s.limitHit(LimitSubscriptions, zap.String("client", "c1"))
	}
	s.limitHit(LimitSessions)
	if got := logs.FilterMessage("mqtt: limit reached").Len(); got != 2 {
		t.Errorf("%d limit lines for 3 max_subscriptions hits and 1 max_sessions; want 2 (one per limit)", got)
	}
	now = now.Add(limitLogWindow)
	s.limitHit(LimitSubscriptions)
	last := logs.All()[logs.Len()-1].ContextMap()
	if last["limit"] != "max_subscriptions" || last["suppressed"] != int64(2) {
		t.Errorf("line after a minute has %v; want limit max_subscriptions, suppressed 2", last)
	}
	if got := s.Stats().Limits; got["max_subscriptions"] != 4 || got["max_sessions"] != 1 {
		t.Errorf("Stats.Limits = %v; want max_subscriptions 4, max_sessions 1", got)
	}
}
