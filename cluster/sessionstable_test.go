package cluster

import (
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// TestSessionsTableApply walks one client id's records through the
// sessions table's applier as replica r1 sees them: claims derive the
// state, state and ended records count only under the current epoch
// (older ones are fenced and, when r1 owns the session, repaired), a
// tombstone removes only an ended session, and a bound claim by another
// user changes nothing.
func TestSessionsTableApply(t *testing.T) {
	c := newClaims("r1", 1, "sessions", 4)
	var moved []int64
	c.onMoved = func(_ string, lost Owner, _ bool) { moved = append(moved, lost.Epoch) }
	t0 := time.UnixMilli(1_700_000_000_000)
	subs := []topics.Sub{{ClientID: "d", Filter: "a/#", QoS: 1}}
	apply := func(off int64, v []byte) []byte {
		t.Helper()
		keep, err := c.apply(&Record{Key: []byte("d"), Offset: off, Value: v})
		if err != nil {
			t.Fatalf("apply offset %d: %v", off, err)
		}
		return keep
	}
	state := func(owner string, inc uint64, epoch int64, disc time.Time, s []topics.Sub) []byte {
		return stateRecord{Owner: owner, Incarnation: inc, State: mqttfront.SessionState{
			Epoch: epoch, Username: "u1", Version: 5, Expiry: 60, DisconnectedAt: disc, Subscriptions: s}}.encode()
	}
	check := func(what string, wantOwner string, wantEpoch int64, wantSubs int) {
		t.Helper()
		st, o, ok := c.State("d")
		if !ok || o.Replica != wantOwner || o.Epoch != wantEpoch || st.Epoch != wantEpoch || len(st.Subscriptions) != wantSubs {
			t.Fatalf("%s: State = %+v, owner %+v, %v; want owner %s epoch %d with %d subscriptions", what, st, o, ok, wantOwner, wantEpoch, wantSubs)
		}
	}

	apply(10, claimRecord{Owner: "r1", Incarnation: 1, Version: 5, Expiry: 60, Username: "u1", Bound: true, At: t0}.encode())
	check("after r1's claim", "r1", 10, 0)
	apply(11, state("r1", 1, 10, time.Time{}, subs))
	check("after r1's state", "r1", 10, 1)

	// r2 resumes it: the claim carries the subscriptions over.
	apply(12, claimRecord{Owner: "r2", Incarnation: 2, Version: 5, Expiry: 60, Username: "u1", Bound: true, At: t0}.encode())
	check("after r2's claim", "r2", 12, 1)
	if len(moved) != 1 || moved[0] != 10 {
		t.Fatalf("onMoved told of epochs %v; want [10]", moved)
	}

	// r1's late write (it had not yet read r2's claim) is fenced; r1 does
	// not own the session, so it repairs nothing.
	apply(13, state("r1", 1, 10, t0, nil))
	check("after r1's zombie state", "r2", 12, 1)
	apply(14, nil) // a tombstone over a live session
	check("after a tombstone over a live session", "r2", 12, 1)
	if len(c.repairSet) != 0 {
		t.Fatalf("r1 queued repairs %v for a session it does not own", c.repairSet)
	}

	// Another user's bound claim is refused by every reader.
	apply(15, claimRecord{Owner: "r3", Incarnation: 3, Version: 5, Username: "u2", Bound: true, At: t0}.encode())
	check("after u2's claim", "r2", 12, 1)
	if c.sessions["d"].refused != 15 {
		t.Fatalf("refused = %d; want 15", c.sessions["d"].refused)
	}

	// r1 takes it back, clean: no subscriptions; a fenced record now
	// queues a repair, as r1 owns the session.
	apply(16, claimRecord{Owner: "r1", Incarnation: 1, CleanStart: true, Version: 5, Username: "u1", Bound: true, At: t0}.encode())
	check("after r1's clean claim", "r1", 16, 0)
	apply(17, state("r2", 2, 12, t0, subs))
	check("after r2's zombie state", "r1", 16, 0)
	if _, ok := c.repairSet["d"]; !ok {
		t.Fatalf("no repair queued after a fenced record over r1's session")
	}

	// Offline and expired at the claim's time: another user may take it.
	apply(18, state("r1", 1, 16, t0, subs))
	apply(19, claimRecord{Owner: "r3", Incarnation: 3, Version: 5, Username: "u2", Bound: true, At: t0.Add(61 * time.Second)}.encode())
	check("after u2's claim on the expired session", "r3", 19, 0)
	if e := c.sessions["d"]; e.before != nil {
		t.Fatalf("before = %+v; want nil (expired)", e.before)
	}

	// Ended, then its tombstone removes the key.
	apply(20, endedRecord{Epoch: 19}.encode())
	if _, _, ok := c.State("d"); ok {
		t.Fatalf("State after ended: present; want none")
	}
	if keep := apply(21, nil); keep != nil {
		t.Fatalf("tombstone after ended keeps % x; want the key removed", keep)
	}
	if _, ok := c.sessions["d"]; ok {
		t.Fatalf("entry still present after the tombstone")
	}

	// A state whose claim was compacted away names its owner.
	apply(30, state("r2", 2, 25, time.Time{}, subs))
	check("after a state of a compacted claim", "r2", 25, 1)

	// The cache entry round-trips.
	e, err := decodeEntry("d", encodeEntry(c.sessions["d"]))
	if err != nil || e.owner != c.sessions["d"].owner || len(e.state.Subscriptions) != 1 {
		t.Fatalf("decodeEntry = %+v, %v", e, err)
	}
}
