package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestSessionsWriteAfterLaterClaim: a state write under an epoch that a
// later claim superseded is refused before anything is produced, and the
// refusal says where the session went: a later claim of this replica's
// own incarnation (a newer CONNECT here) is ErrSessionReclaimed, which the
// front end must not take for a move (the local session and its queue
// stay for that CONNECT); another replica's, or an older incarnation's,
// is a plain ErrSessionMoved.
func TestSessionsWriteAfterLaterClaim(t *testing.T) {
	c := newClaims("r1", 2, "sessions", 4)
	s := &Sessions{claims: c, timeout: time.Second, maxBytes: 1 << 20}
	t0 := time.UnixMilli(1_700_000_000_000)
	apply := func(id string, off int64, owner string, inc uint64) {
		t.Helper()
		rec := claimRecord{Owner: owner, Incarnation: inc, Version: 5, Expiry: 60, At: t0}.encode()
		if _, err := c.apply(&Record{Key: []byte(id), Offset: off, Value: rec}); err != nil {
			t.Fatalf("apply claim at %d: %v", off, err)
		}
	}
	update := func(id string, epoch int64) error {
		return s.Update(context.Background(), &mqttfront.SessionState{ClientID: id, Epoch: epoch, Version: 5, Expiry: 60})
	}
	for i, tc := range []struct {
		name      string
		owner     string
		inc       uint64
		reclaimed bool
	}{
		{"a later claim here", "r1", 2, true},
		{"another replica's claim", "r3", 7, false},
		{"an older incarnation of this replica", "r1", 1, false}, // not live with this one: a restart's catch-up
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("d%d", i)
			apply(id, 10, "r1", 2)
			apply(id, 11, tc.owner, tc.inc)
			err := update(id, 10)
			if !errors.Is(err, mqttfront.ErrSessionMoved) {
				t.Fatalf("Update under epoch 10 after a claim at 11 = %v; want ErrSessionMoved", err)
			}
			if got := errors.Is(err, mqttfront.ErrSessionReclaimed); got != tc.reclaimed {
				t.Fatalf("Update under epoch 10 after %s: ErrSessionReclaimed %v (%v); want %v", tc.name, got, err, tc.reclaimed)
			}
		})
	}
}
