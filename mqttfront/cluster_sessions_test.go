package mqttfront

import (
	"context"
	"errors"
	"fmt"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// fakeClaimer is a SessionClaimer without a log: every claim wins, with
// the previous owner here (the local session is the session), epochs
// count up. The first Update under the epoch of the next claim of the
// client id hold names waits until release is closed (the state's round
// trip through Kafka, made long), after entered is closed; updateErr, when
// set, is what it returns after the wait.
type fakeClaimer struct {
	mu        sync.Mutex
	epoch     int64
	hold      string
	holdEpoch int64
	entered   chan struct{}
	release   chan struct{}
	updateErr error
	offline   int // Updates of an offline state
}

func (f *fakeClaimer) Claim(_ context.Context, req ClaimRequest) (ClaimResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epoch++
	if req.ClientID == f.hold && f.holdEpoch < 0 {
		f.holdEpoch = f.epoch
	}
	return ClaimResult{Epoch: f.epoch, PrevHere: true}, nil
}

func (f *fakeClaimer) Update(ctx context.Context, st *SessionState) error {
	f.mu.Lock()
	if !st.DisconnectedAt.IsZero() {
		f.offline++
	}
	held := st.ClientID == f.hold && st.Epoch == f.holdEpoch
	entered, release, err := f.entered, f.release, f.updateErr
	if held {
		f.hold = "" // once
	}
	f.mu.Unlock()
	if !held {
		return nil
	}
	close(entered)
	select {
	case <-release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

func (f *fakeClaimer) End(context.Context, string, int64) error { return nil }

// holdNext makes the first Update under id's next claim wait for the
// release.
func (f *fakeClaimer) holdNext(id string, err error) (entered, release chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold, f.holdEpoch, f.updateErr = id, -1, err
	f.entered, f.release = make(chan struct{}), make(chan struct{})
	return f.entered, f.release
}

// offlineWrites is the number of Updates of an offline state so far.
func (f *fakeClaimer) offlineWrites() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.offline
}

// runClaimed starts a server with the claimer set (cluster mode's
// sessions without a cluster).
func runClaimed(t *testing.T, cfg Config, sc SessionClaimer) *testSrv {
	t.Helper()
	s, err := New(cfg, &fakeSink{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.SetSessionClaimer(sc)
	stop := testkit.Start(t, s, s.Ready())
	t.Cleanup(stop)
	return &testSrv{Server: s, addr: s.Addr("tcp").String(), stop: stop}
}

// waitEntered waits for a held Update.
func waitEntered(t *testing.T, entered chan struct{}) {
	t.Helper()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the CONNECT's state write did not start within 5 s")
	}
}

// TestClusterConnackBeforeDeliveries: in cluster mode the connection is
// attached to its session, then the session's state goes through the
// claimer (a Kafka round trip) before CONNACK. Messages delivered to the
// session meanwhile (an inbox copy, a local publish) must not reach the
// client before its CONNACK, the first packet the server sends
// [MQTT-3.2.0-1]; they follow it, none lost, each QoS in order
// [MQTT-4.6.0-6].
func TestClusterConnackBeforeDeliveries(t *testing.T) {
	for _, v := range []packets.Version{packets.V5, packets.V311} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			fc := &fakeClaimer{}
			ts := runClaimed(t, testConfig(t.TempDir()), fc)
			w := mqttwire.Dial(t, ts.addr, v)
			w.Connect("dev", mqttwire.Persistent(300))
			w.Subscribe(1, "a/#", 2)
			w.Send(&packets.Packet{Type: packets.DISCONNECT})
			w.ExpectClosed(5 * time.Second)
			waitFor(t, 5*time.Second, "the session's offline state written", func() bool { return fc.offlineWrites() == 1 })
			ts.Publish(&Message{Topic: "a/q", Payload: []byte("queued"), QoS: 1}, nil)

			entered, release := fc.holdNext("dev", nil)
			back := mqttwire.Dial(t, ts.addr, v)
			cp := &packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{
				ProtocolName: "MQTT", ProtocolVersion: v, KeepAlive: 60, ClientID: "dev"}}
			mqttwire.Persistent(300)(cp)
			back.Send(cp)
			waitEntered(t, entered)
			// Attached, CONNACK not sent: deliveries at each QoS.
			var want0, want12 []string
			for i := range 6 {
				q := byte(i % 3)
				payload := fmt.Sprintf("m%d-q%d", i, q)
				done := make(chan error, 1)
				ts.Publish(&Message{Topic: "a/t", Payload: []byte(payload), QoS: q}, func(err error) { done <- err })
				if err := <-done; err != nil {
					t.Fatalf("Publish %s: %v", payload, err)
				}
				if q == 0 {
					want0 = append(want0, payload)
				} else {
					want12 = append(want12, payload)
				}
			}
			back.ExpectNothing(200 * time.Millisecond) // the CONNACK waits for the state write, and so does everything else
			close(release)
			if ack := back.Expect(packets.CONNACK); !ack.SessionPresent || ack.ReasonCode != 0 {
				t.Fatalf("CONNACK: Session Present %v, code %#x; want 1, 0", ack.SessionPresent, ack.ReasonCode)
			}
			want12 = append([]string{"queued"}, want12...)
			var got0, got12 []string
			for len(got0)+len(got12) < len(want0)+len(want12) {
				p := back.Expect(packets.PUBLISH)
				if p.QoS == 0 {
					got0 = append(got0, string(p.Payload))
				} else {
					got12 = append(got12, string(p.Payload))
				}
			}
			if fmt.Sprint(got0) != fmt.Sprint(want0) || fmt.Sprint(got12) != fmt.Sprint(want12) {
				t.Fatalf("after CONNACK: QoS 0 %v, QoS 1/2 %v; want %v and %v (all, each QoS in order)", got0, got12, want0, want12)
			}
			back.ExpectNothing(200 * time.Millisecond) // nothing twice
		})
	}
}

// TestClusterConnackRefusedAfterAttach: a CONNECT attached to its session
// whose state write then fails gets its refusal as the first packet, and
// nothing else: the deliveries made meanwhile stay with the session (QoS
// 1/2 queued for the next connection).
func TestClusterConnackRefusedAfterAttach(t *testing.T) {
	fc := &fakeClaimer{}
	ts := runClaimed(t, testConfig(t.TempDir()), fc)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("dev", mqttwire.Persistent(300))
	w.Subscribe(1, "a/#", 1)
	w.Send(&packets.Packet{Type: packets.DISCONNECT})
	w.ExpectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "the session's offline state written", func() bool { return fc.offlineWrites() == 1 })

	entered, release := fc.holdNext("dev", errors.New("kafka unreachable"))
	back := mqttwire.Dial(t, ts.addr, packets.V5)
	cp := &packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{
		ProtocolName: "MQTT", ProtocolVersion: packets.V5, KeepAlive: 60, ClientID: "dev"}}
	mqttwire.Persistent(300)(cp)
	back.Send(cp)
	waitEntered(t, entered)
	for i, q := range []byte{0, 1} {
		done := make(chan error, 1)
		ts.Publish(&Message{Topic: "a/t", Payload: fmt.Appendf(nil, "m%d", i), QoS: q}, func(err error) { done <- err })
		<-done
	}
	close(release)
	got := back.ExpectClosed(5 * time.Second)
	if len(got) != 1 || got[0].Type != packets.CONNACK || got[0].ReasonCode != packets.ServerUnavailable {
		types := make([]string, len(got))
		for i, p := range got {
			types[i] = fmt.Sprintf("%v %v", p.Type, p.ReasonCode)
		}
		t.Fatalf("refused CONNECT got %v; want CONNACK 0x88 only", types)
	}
	again := mqttwire.Dial(t, ts.addr, packets.V5)
	if ack := again.Connect("dev", mqttwire.Persistent(300)); !ack.SessionPresent {
		t.Fatalf("reconnect: Session Present 0; want 1")
	}
	if p := again.Expect(packets.PUBLISH); string(p.Payload) != "m1" || p.QoS != 1 {
		t.Fatalf("after reconnecting: %q at QoS %d; want m1 at QoS 1 (queued while the refused CONNECT was attached)", p.Payload, p.QoS)
	}
}

// claims is the number of claims so far (the last epoch).
func (f *fakeClaimer) claims() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch
}

// TestClusterReclaimHereKeepsQueue: a device redials the replica that
// owns its session before its first CONNECT there was answered (the
// cluster's state write between attach and CONNACK is a Kafka round
// trip). That first CONNECT's state write then finds a later claim, this
// replica's own (the redial's): no move, but a takeover as on one node.
// The redial resumes the session with what was queued for it (Session
// Present 1, every message once, in order) and nothing is dropped as
// session_moved.
func TestClusterReclaimHereKeepsQueue(t *testing.T) {
	fc := &fakeClaimer{}
	ts := runClaimed(t, testConfig(t.TempDir()), fc)
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("dev", mqttwire.Persistent(300))
	w.Subscribe(1, "a/#", 1)
	w.Send(&packets.Packet{Type: packets.DISCONNECT})
	w.ExpectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "the session's offline state written", func() bool { return fc.offlineWrites() == 1 })
	for i := range 3 {
		ts.Publish(&Message{Topic: "a/t", Payload: fmt.Appendf(nil, "q%d", i), QoS: 1}, nil)
	}

	// What the cluster says to a state write under an epoch that a later
	// claim of this same replica superseded.
	entered, release := fc.holdNext("dev", fmt.Errorf("write session state: %w", ErrSessionReclaimed))
	connect := &packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{
		ProtocolName: "MQTT", ProtocolVersion: packets.V5, KeepAlive: 60, ClientID: "dev"}}
	mqttwire.Persistent(300)(connect)
	first := mqttwire.Dial(t, ts.addr, packets.V5)
	first.Send(connect)
	waitEntered(t, entered)
	claimed := fc.claims()
	second := mqttwire.Dial(t, ts.addr, packets.V5)
	second.Send(connect)
	waitFor(t, 5*time.Second, "the redial's claim", func() bool { return fc.claims() == claimed+1 })
	close(release)

	if got := first.ExpectClosed(5 * time.Second); len(got) != 0 {
		t.Fatalf("the superseded CONNECT got %d packets (first %v); want none (it lost to the later one)", len(got), got[0].Type)
	}
	if ack := second.Expect(packets.CONNACK); !ack.SessionPresent || ack.ReasonCode != 0 {
		t.Fatalf("redial's CONNACK: Session Present %v, code %#x; want 1, 0", ack.SessionPresent, byte(ack.ReasonCode))
	}
	for i := range 3 {
		p := second.Expect(packets.PUBLISH)
		if want := fmt.Sprintf("q%d", i); string(p.Payload) != want {
			t.Fatalf("queued message %d = %q; want %q", i, p.Payload, want)
		}
		second.Send(&packets.Packet{Type: packets.PUBACK, PacketID: p.PacketID})
	}
	if n := ts.Stats().Drops[DropSessionMoved.String()]; n != 0 {
		t.Fatalf("drops{reason=session_moved} = %d; want 0 (the session never left this replica)", n)
	}
}
