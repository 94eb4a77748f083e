package cluster

import (
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// TestRegistryConflictBeforeOwnOffsetKnown: the live holder's answer to
// our starting record can be applied by our reader before the producer
// told us our starting record's offset (both are goroutines of their own);
// it is a conflict all the same.
func TestRegistryConflictBeforeOwnOffsetKnown(t *testing.T) {
	r := newRegistry("same", 1, "replicas", 100*time.Millisecond, time.Second, zaptest.NewLogger(t))
	// Offset 7 is our starting record; the live holder answers at 8,
	// applied before noteStarted(7).
	if _, err := r.apply(&Record{Key: []byte("same"), Offset: 8, Timestamp: time.Now(),
		Value: heartbeatRecord{Incarnation: 2, State: replicaAlive}.encode()}); err != nil {
		t.Fatal(err)
	}
	r.noteStarted(7)
	if r.conflict == "" {
		t.Fatal("an alive heartbeat of another incarnation after our starting record was not a conflict")
	}
	// One before our starting record is not (a crashed predecessor).
	r2 := newRegistry("same", 1, "replicas", 100*time.Millisecond, time.Second, zaptest.NewLogger(t))
	if _, err := r2.apply(&Record{Key: []byte("same"), Offset: 6, Timestamp: time.Now(),
		Value: heartbeatRecord{Incarnation: 2, State: replicaAlive}.encode()}); err != nil {
		t.Fatal(err)
	}
	r2.noteStarted(7)
	if r2.conflict != "" {
		t.Fatalf("a heartbeat before our starting record was a conflict: %s", r2.conflict)
	}
}

// TestRegistryIDCheckWindow: the id check waits 2 heartbeat intervals,
// at least minIDCheck, so a short interval on a loaded machine still gives
// the live holder time to answer.
func TestRegistryIDCheckWindow(t *testing.T) {
	for _, tc := range []struct{ interval, want time.Duration }{
		{100 * time.Millisecond, minIDCheck},
		{2 * time.Second, 4 * time.Second},
	} {
		r := newRegistry("x", 1, "replicas", tc.interval, 10*time.Second, zaptest.NewLogger(t))
		if got := r.idCheckWindow(); got != tc.want {
			t.Errorf("interval %v: window %v; want %v", tc.interval, got, tc.want)
		}
	}
}
