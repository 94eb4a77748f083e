package cluster

// The janitor against the real Kafka: three replicas in one process (nodes
// + mqttfront servers, paho.golang v5 clients), one of which crashes as
// kill -9 would (Node.crash: no stopping heartbeat, no write after it).

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/eclipse/paho.golang/paho"
)

// janitorOpts: replicas with their janitor attached; heartbeats every
// 100 ms (testConfig), replica_timeout 3 s (a replica of the loaded test
// machine can miss heartbeats for over a second, and would be taken for
// dead), claim_timeout, the grace left to another janitor's unconfirmed
// reap and the bound of a CONNECT's claim (produce and read back), 10 s:
// with 5 s a claim on the loaded CI machine (load ~13) was refused (0x88).
var janitorOpts = replicaOpts{janitor: true, ccfg: func(c *Config) {
	c.ReplicaTimeout = 3 * time.Second
	c.ClaimTimeout = 10 * time.Second
}}

// janitorStats sums the janitor stats of replicas: the role may move
// between them as the group rebalances.
func janitorStats(rs ...*replica) JanitorStats {
	var sum JanitorStats
	for _, r := range rs {
		st := r.node.Janitor().Stats()
		sum.DeadReplicas += st.DeadReplicas
		sum.SessionsReaped += st.SessionsReaped
		sum.WillsFired += st.WillsFired
		sum.UplinksRedone += st.UplinksRedone
		sum.ReapsApplied += st.ReapsApplied
	}
	return sum
}

// connectWithWill connects a v5 device with a QoS 1 will on topic and a
// will delay.
func connectWithWill(t *testing.T, addr, id, topic, payload string, delay uint32) *client {
	t.Helper()
	c, err := dialClientWith(t, addr, id, "", true, func(cp *paho.Connect) {
		cp.WillMessage = &paho.WillMessage{QoS: 1, Topic: topic, Payload: []byte(payload)}
		cp.WillProperties = &paho.WillProperties{WillDelayInterval: u32(delay)}
	})
	if err != nil {
		t.Fatalf("connect %s with a will: %v", id, err)
	}
	return c
}

// arrival is a message a subscriber got, and when.
type arrival struct {
	topic, payload string
	at             time.Time
}

// receiveAll runs receive on each client at once.
func receiveAll(n int, wait time.Duration, cs ...*client) [][]arrival {
	out := make([][]arrival, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.arrivals(n, wait)
		}()
	}
	wg.Wait()
	return out
}

// arrivals collects what c gets until it has n messages or wait passed.
func (c *client) arrivals(n int, wait time.Duration) []arrival {
	var out []arrival
	deadline := time.After(wait)
	for len(out) < n {
		select {
		case p := <-c.got:
			out = append(out, arrival{p.Topic, string(p.Payload), time.Now()})
		case <-deadline:
			return out
		}
	}
	return out
}

// TestJanitorFiresWillsOfDeadReplica: replica A holds two online devices
// with wills (delay 0 and 2 s) and dies as kill -9 would. The janitor
// fires each will once: subscribers at both live replicas get each will
// exactly once, after its delay and within delay + 10 s of the crash;
// the Sinks together get each once; the sessions are offline in the log.
func TestJanitorFiresWillsOfDeadReplica(t *testing.T) {
	rs := startReplicasWith(t, 3, janitorOpts)
	a, r2, r3 := rs[0], rs[1], rs[2]
	subJ := connectClient(t, r2.addr, clientName("sub2"), "", true)
	subS := connectClient(t, r3.addr, clientName("sub3"), "", true)
	subJ.subscribe(t, "will/#", 1)
	subS.subscribe(t, "will/#", 1)
	d0, d2 := clientName("d0"), clientName("d2")
	connectWithWill(t, a.addr, d0, "will/"+d0, "gone0", 0)
	connectWithWill(t, a.addr, d2, "will/"+d2, "gone2", 2)
	for _, id := range []string{d0, d2} {
		waitFor(t, defaultWait, "the live replicas to see "+id+" online with its will", func() bool {
			for _, r := range []*replica{r2, r3} {
				st, _, ok := r.node.Claims().State(id)
				if !ok || st.Will == nil || !st.DisconnectedAt.IsZero() {
					return false
				}
			}
			return true
		})
	}

	crashed := time.Now()
	a.kill()
	for _, got := range receiveAll(2, 2*time.Second+10*time.Second+5*time.Second, subJ, subS) {
		byTopic := map[string]arrival{}
		for _, g := range got {
			byTopic[g.topic] = g
		}
		w0, ok0 := byTopic["will/"+d0]
		w2, ok2 := byTopic["will/"+d2]
		if len(got) != 2 || !ok0 || !ok2 {
			t.Fatalf("a subscriber got %+v; want the wills of %s and %s", got, d0, d2)
		}
		if lat := w0.at.Sub(crashed); lat > 10*time.Second {
			t.Errorf("will with delay 0 after %v; want within the 10 s detection budget", lat)
		}
		if lat := w2.at.Sub(crashed); lat < 2*time.Second || lat > 12*time.Second {
			t.Errorf("will with delay 2 s after %v; want in [2 s, 12 s]", lat)
		}
		t.Logf("wills after the crash: delay 0 in %v, delay 2 s in %v", w0.at.Sub(crashed), w2.at.Sub(crashed))
	}
	for _, id := range []string{d0, d2} {
		waitFor(t, defaultWait, "the reap of "+id+" to be confirmed", func() bool {
			st, o, ok := r3.node.Claims().State(id)
			e, _ := r3.node.Claims().view(id)
			return ok && o.Replica == a.id && o.Incarnation == 0 && !st.DisconnectedAt.IsZero() && st.Will == nil && !e.unconfirmed
		})
	}
	// Exactly once: nothing more arrives, and the Sinks got each will once.
	if more := append(subJ.arrivals(1, time.Second), subS.arrivals(1, 100*time.Millisecond)...); len(more) != 0 {
		t.Fatalf("a will arrived again: %+v", more)
	}
	for _, w := range []string{"will/" + d0 + " gone0", "will/" + d2 + " gone2"} {
		if n := r2.sink.count(w) + r3.sink.count(w); n != 1 {
			t.Fatalf("the Sinks got %q %d times; want once", w, n)
		}
	}
	if st := janitorStats(r2, r3); st.DeadReplicas != 1 || st.WillsFired != 2 || st.SessionsReaped != 2 || st.ReapsApplied != 4 {
		t.Fatalf("the live replicas' janitor stats %+v; want 1 dead replica, 2 sessions reaped, 2 wills fired, 4 reaps applied (2 each)", st)
	}
}

// TestJanitorCrashBetweenFireAndConfirm: the janitor crashes at a
// failpoint after its reap was read back (the will delivered by every
// replica from the log). The new janitor confirms the reap without firing
// the will again: subscribers get it exactly once. Crashed before the
// uplink, the Sinks get it once (from the new janitor). Crashed after the
// uplink and before the confirmation, the new janitor uplinks it again:
// the one window in which Kafka gets a duplicate (README.md, "Wills of
// dead replicas"), never the subscribers.
func TestJanitorCrashBetweenFireAndConfirm(t *testing.T) {
	for _, tc := range []struct {
		point     string
		wantSinks int
	}{
		{FailpointReaped, 1},
		{FailpointUplinked, 2},
	} {
		t.Run(tc.point, func(t *testing.T) {
			rs := startReplicasWith(t, 3, janitorOpts)
			a := rs[0]
			// Whichever live replica holds the role when A dies crashes.
			var crashed atomic.Pointer[replica]
			for _, r := range rs[1:] {
				r.node.Janitor().setFailpoint(func(p string) bool {
					return p == tc.point && crashed.CompareAndSwap(nil, r)
				})
			}
			subs := map[*replica]*client{}
			for _, r := range rs[1:] {
				subs[r] = connectClient(t, r.addr, clientName("sub"), "", true)
				subs[r].subscribe(t, "will/#", 1)
			}
			d := clientName("d")
			connectWithWill(t, a.addr, d, "will/"+d, "gone", 0)
			waitFor(t, defaultWait, "the live replicas to see the device online", func() bool {
				for _, r := range rs[1:] {
					if st, _, ok := r.node.Claims().State(d); !ok || st.Will == nil {
						return false
					}
				}
				return true
			})

			a.kill()
			waitFor(t, defaultWait, "a janitor to crash at "+tc.point, func() bool { return crashed.Load() != nil })
			jan := crashed.Load()
			s := rs[1]
			if s == jan {
				s = rs[2]
			}
			sub := subs[s]
			if got := sub.arrivals(1, 15*time.Second); len(got) != 1 || got[0].payload != "gone" {
				t.Fatalf("subscriber at the surviving replica got %+v; want the will once", got)
			}
			jan.kill() // the crashed node's broker goes too
			waitFor(t, defaultWait, "the surviving replica to take the janitor role", s.node.Janitor().Held)
			waitFor(t, defaultWait, "the new janitor to confirm the reap", func() bool {
				e, ok := s.node.Claims().view(d)
				return ok && !e.unconfirmed && e.state.Will == nil && !e.state.DisconnectedAt.IsZero()
			})
			if more := sub.arrivals(1, time.Second); len(more) != 0 {
				t.Fatalf("the will arrived again: %+v", more)
			}
			w := "will/" + d + " gone"
			if n := jan.sink.count(w) + s.sink.count(w); n != tc.wantSinks {
				t.Fatalf("the Sinks got the will %d times; want %d", n, tc.wantSinks)
			}
			if st := s.node.Janitor().Stats(); st.UplinksRedone != 1 || st.WillsFired != 0 {
				t.Fatalf("new janitor's stats %+v; want 1 uplink redone and no will fired", st)
			}
		})
	}
}

// TestJanitorReconnectCancelsWill: the device of a dead replica reconnects
// at another replica before its will delay ends: its claim comes first in
// the log, so no will fires and its new connection stays.
func TestJanitorReconnectCancelsWill(t *testing.T) {
	rs := startReplicasWith(t, 3, janitorOpts)
	a, s, other := rs[0], rs[1], rs[2]
	sub := connectClient(t, other.addr, clientName("sub"), "", true)
	sub.subscribe(t, "will/#", 1)
	d := clientName("d")
	connectWithWill(t, a.addr, d, "will/"+d, "gone", 4)
	waitFor(t, defaultWait, "the replicas to see the device online", func() bool {
		st, _, ok := s.node.Claims().State(d)
		return ok && st.Will != nil
	})
	a.kill()
	back := connectClient(t, s.addr, d, "", false)
	if !back.connack.SessionPresent {
		t.Fatalf("reconnect at %s: Session Present 0; want 1", s.id)
	}
	// Past the delay, the detection (3 s) and a margin: nothing.
	if got := sub.arrivals(1, 4*time.Second+3*time.Second+2*time.Second); len(got) != 0 {
		t.Fatalf("subscriber got %+v; want no will (the reconnect cancelled it)", got)
	}
	if !back.alive() {
		t.Fatalf("the reconnected device's connection was closed")
	}
	if st := janitorStats(s, other); st.WillsFired != 0 || st.ReapsApplied != 0 {
		t.Fatalf("janitor stats %+v; want no reap", st)
	}
}

// TestJanitorPausedOwnerResumes: a replica taken for dead while it still
// holds the device (paused or cut off past the timeout; here the reap is
// written directly) applies the reap: its connection gets v5 DISCONNECT
// 0x8E, and the will reaches the subscribers once, from the log, not a
// second time from the owner's detach.
func TestJanitorPausedOwnerResumes(t *testing.T) {
	rs := startReplicasWith(t, 2, janitorOpts)
	a, b := rs[0], rs[1]
	subA := connectClient(t, a.addr, clientName("suba"), "", true)
	subB := connectClient(t, b.addr, clientName("subb"), "", true)
	subA.subscribe(t, "will/#", 1)
	subB.subscribe(t, "will/#", 1)
	d := clientName("d")
	dev := connectWithWill(t, a.addr, d, "will/"+d, "gone", 0)
	var o Owner
	waitFor(t, defaultWait, "both replicas to see the device online with its will", func() bool {
		st, ob, ok := b.node.Claims().State(d)
		sa, _, okA := a.node.Claims().State(d)
		o = ob
		return ok && okA && st.Will != nil && sa.Will != nil
	})
	c := a.node.Claims()
	p := c.Partition(d)
	msg := c.message(d, p, reapRecord{Epoch: o.Epoch, Janitor: b.id, Incarnation: 1, At: time.Now()}.encode())
	if err := c.write(context.Background(), p, []*sarama.ProducerMessage{msg}); err != nil {
		t.Fatalf("write the reap: %v", err)
	}
	select {
	case dp := <-dev.disconnects:
		if dp.ReasonCode != 0x8E {
			t.Fatalf("the device got DISCONNECT %#x; want 0x8E", dp.ReasonCode)
		}
	case <-time.After(defaultWait):
		t.Fatalf("the device got no DISCONNECT within %v", defaultWait)
	}
	for i, got := range receiveAll(2, 3*time.Second, subA, subB) {
		if len(got) != 1 || got[0].payload != "gone" {
			t.Fatalf("subscriber %d got %+v; want the will once", i, got)
		}
	}
	if n := a.sink.count("will/" + d + " gone"); n != 0 {
		t.Fatalf("the owner handed the will to its Sink %d times; want 0 (the janitor's uplink does)", n)
	}
}
