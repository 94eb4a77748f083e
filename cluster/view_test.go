package cluster

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestNodeView feeds heartbeats and session records to a node's appliers
// (no Kafka) and reads the view: heartbeat ages in the broker's clock,
// stale and stopping replicas, advertised addresses, sessions per owner
// (online, offline), an owner without a heartbeat, and the superseded
// counter when a later claim takes one of this replica's sessions.
func TestNodeView(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled, cfg.ReplicaID = true, "r1"
	n, err := New(cfg, []string{"127.0.0.1:1"}, sarama.NewConfig(), t.TempDir(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1_700_000_000_000)
	off := int64(0)
	beat := func(id string, inc uint64, state byte, at time.Time, admin string) {
		t.Helper()
		off++
		v := heartbeatRecord{Incarnation: inc, State: state, Seq: uint64(off), StartedAt: t0, Admin: admin, MQTT: "mqtt://" + id}.encode()
		if _, err := n.registry.apply(&Record{Key: []byte(id), Offset: off, Value: v, Timestamp: at}); err != nil {
			t.Fatal(err)
		}
	}
	sess := func(id string, rec []byte) {
		t.Helper()
		off++
		if _, err := n.claims.apply(&Record{Key: []byte(id), Offset: off, Value: rec}); err != nil {
			t.Fatal(err)
		}
	}
	beat("r2", 2, replicaAlive, t0, "10.0.0.2:8080")
	beat("r3", 3, replicaStopping, t0.Add(time.Second), "10.0.0.3:8080")
	beat("r1", n.incarnation, replicaAlive, t0.Add(30*time.Second), "10.0.0.1:8080")
	beat("r4", 4, replicaAlive, t0.Add(25*time.Second), "")

	sess("a", claimRecord{Owner: "r1", Incarnation: n.incarnation, Version: 5, Expiry: 60, At: t0}.encode())
	sess("b", claimRecord{Owner: "r1", Incarnation: n.incarnation, Version: 5, Expiry: 60, At: t0}.encode())
	bEpoch := off
	sess("b", stateRecord{Owner: "r1", Incarnation: n.incarnation, State: mqttfront.SessionState{
		ClientID: "b", Epoch: bEpoch, Version: 5, Expiry: 60, DisconnectedAt: t0}}.encode()) // offline
	sess("c", claimRecord{Owner: "r9", Incarnation: 9, Version: 5, Expiry: 60, At: t0}.encode())
	cEpoch := off
	// r2 takes "a" from r1.
	sess("a", claimRecord{Owner: "r2", Incarnation: 2, Version: 5, Expiry: 60, At: t0}.encode())

	v := n.View()
	if v.ID != "r1" || v.Claims.Superseded != 1 {
		t.Errorf("View() id %q, claims %+v; want r1 with 1 superseded", v.ID, v.Claims)
	}
	type want struct {
		state           string
		live            bool
		age             time.Duration
		admin           string
		online, offline int
	}
	wants := map[string]want{
		"r1": {ReplicaAlive, true, 0, "10.0.0.1:8080", 0, 1},
		"r2": {ReplicaStale, false, 30 * time.Second, "10.0.0.2:8080", 1, 0},
		"r3": {ReplicaStopping, false, 29 * time.Second, "10.0.0.3:8080", 0, 0},
		"r4": {ReplicaAlive, true, 5 * time.Second, "", 0, 0},
		"r9": {ReplicaUnknown, false, 0, "", 1, 0},
	}
	if len(v.Replicas) != len(wants) {
		t.Fatalf("View().Replicas = %+v; want %d replicas", v.Replicas, len(wants))
	}
	for i, rv := range v.Replicas {
		if i > 0 && v.Replicas[i-1].ID >= rv.ID {
			t.Errorf("replicas not sorted by id: %q before %q", v.Replicas[i-1].ID, rv.ID)
		}
		w := wants[rv.ID]
		got := want{rv.State, rv.Live, rv.HeartbeatAge, rv.Admin, rv.SessionsOnline, rv.SessionsOffline}
		if got != w {
			t.Errorf("replica %s = %+v; want %+v", rv.ID, got, w)
		}
		if rv.Self != (rv.ID == "r1") {
			t.Errorf("replica %s: Self = %v", rv.ID, rv.Self)
		}
	}
	if o, ok := n.SessionOwner("a"); !ok || o.ID != "r2" || o.Admin != "10.0.0.2:8080" || o.Self {
		t.Errorf("SessionOwner(a) = %+v, %v; want r2 at 10.0.0.2:8080", o, ok)
	}
	if o, ok := n.SessionOwner("b"); !ok || !o.Self {
		t.Errorf("SessionOwner(b) = %+v, %v; want this replica", o, ok)
	}
	if o, ok := n.SessionOwner("nobody"); ok {
		t.Errorf("SessionOwner(nobody) = %+v; want none", o)
	}
	recount(t, n.claims)

	// b ends (ended record, then a tombstone); c goes offline.
	sess("b", endedRecord{Epoch: bEpoch}.encode())
	sess("b", nil)
	sess("c", stateRecord{Owner: "r9", Incarnation: 9, State: mqttfront.SessionState{ClientID: "c", Epoch: cEpoch, Version: 5, DisconnectedAt: t0}}.encode())
	recount(t, n.claims)
	online, offline := n.claims.owned()
	if len(online) != 1 || online["r2"] != 1 || len(offline) != 1 || offline["r9"] != 1 {
		t.Errorf("owned() = %v online, %v offline; want r2: 1 online, r9: 1 offline", online, offline)
	}
	n.claims.reset()
	if online, offline := n.claims.owned(); len(online)+len(offline) != 0 {
		t.Errorf("owned() after reset = %v, %v; want none", online, offline)
	}
}

// recount checks the kept counts of sessions per owner against a pass
// over the whole table.
func recount(t *testing.T, c *Claims) {
	t.Helper()
	want := map[string]ownedCount{}
	c.mu.Lock()
	for _, e := range c.sessions {
		if e.state == nil || e.owner.Replica == "" {
			continue
		}
		oc := want[e.owner.Replica]
		if e.state.DisconnectedAt.IsZero() {
			oc.online++
		} else {
			oc.offline++
		}
		want[e.owner.Replica] = oc
	}
	got := map[string]ownedCount{}
	for id, oc := range c.ownedBy {
		got[id] = *oc
	}
	c.mu.Unlock()
	if !maps.Equal(got, want) {
		t.Errorf("sessions per owner kept %v; a recount gives %v", got, want)
	}
}

// BenchmarkNodeView: one view (a scrape, GET /api/v1/cluster) over a
// sessions table of 100k sessions on 3 replicas.
func BenchmarkNodeView(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Enabled, cfg.ReplicaID = true, "r1"
	n, err := New(cfg, []string{"127.0.0.1:1"}, sarama.NewConfig(), b.TempDir(), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.UnixMilli(1_700_000_000_000)
	for i, id := range []string{"r1", "r2", "r3"} {
		v := heartbeatRecord{Incarnation: uint64(i), State: replicaAlive, StartedAt: t0}.encode()
		if _, err := n.registry.apply(&Record{Key: []byte(id), Offset: int64(i), Value: v, Timestamp: t0}); err != nil {
			b.Fatal(err)
		}
	}
	owners := []string{"r1", "r2", "r3"}
	for i := range 100_000 {
		st := &mqttfront.SessionState{ClientID: fmt.Sprint("d", i), Epoch: int64(i)}
		if i%2 == 0 {
			st.DisconnectedAt = t0
		}
		n.claims.putLocked(st.ClientID, &entry{owner: Owner{Replica: owners[i%3], Epoch: int64(i)}, state: st})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if v := n.View(); len(v.Replicas) != 3 {
			b.Fatalf("%d replicas", len(v.Replicas))
		}
	}
}
