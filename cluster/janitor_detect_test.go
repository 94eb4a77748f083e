package cluster

import (
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestJanitorDetectAfterLogSilence: Kafka was away for everyone (no
// heartbeat of any replica for longer than the timeout); when it comes
// back, the janitor's own heartbeat lands first. r2, whose last heartbeat
// is from before the silence, is not dead at once: it gets a timeout from
// the log's return plus one more to be heard again (before the fix it was
// taken for dead on the janitor's first heartbeat, and its online
// sessions were reaped: TestClusterKafkaDown, "reaped 13; want 0").
// A replica that stays silent after that is dead.
func TestJanitorDetectAfterLogSilence(t *testing.T) {
	const timeout = 5 * time.Second
	cfg := DefaultConfig()
	cfg.ReplicaTimeout = timeout
	c := newClaims("r1", 1, "sessions", 4)
	t0 := time.UnixMilli(1_700_000_000_000)
	if _, err := c.apply(&Record{Key: []byte("d"), Offset: 10, Value: claimRecord{Owner: "r2", Incarnation: 2, Version: 5, Expiry: 60, At: t0}.encode()}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.apply(&Record{Key: []byte("d"), Offset: 11, Value: stateRecord{Owner: "r2", Incarnation: 2,
		State: mqttfront.SessionState{Epoch: 10, Version: 5, Expiry: 60}}.encode()}); err != nil {
		t.Fatal(err)
	}
	reg := newRegistry("r1", 1, "replicas", time.Second, timeout, zaptest.NewLogger(t))
	beat := func(id string, inc uint64, at time.Time) {
		reg.mu.Lock()
		reg.note(id, heartbeatRecord{Incarnation: inc, State: replicaAlive}, at)
		reg.mu.Unlock()
	}
	j := newJanitor(cfg, "r1", 1, c, reg, zaptest.NewLogger(t))
	j.suspects, j.deadFrom = map[Owner]time.Time{}, map[Owner]time.Time{}
	r2 := Owner{Replica: "r2", Incarnation: 2}

	beat("r1", 1, t0)
	beat("r2", 2, t0)
	j.detect(reg.brokerNow())
	if _, dead := j.deadFrom[r2]; dead {
		t.Fatal("r2 dead while heard from")
	}
	// 15 s of silence for everyone, then r1's heartbeat lands.
	back := t0.Add(15 * time.Second)
	beat("r1", 1, back)
	j.detect(reg.brokerNow())
	if _, dead := j.deadFrom[r2]; dead {
		t.Fatalf("r2 taken for dead on the first heartbeat after a silence of the whole log (last heard %v, log back %v)", t0, back)
	}
	// r1 keeps beating every second; r2 stays silent. Within the grace
	// (a timeout from the return, plus one): not dead.
	at := back
	for at.Before(back.Add(2*timeout - time.Second)) {
		at = at.Add(time.Second)
		beat("r1", 1, at)
		j.detect(reg.brokerNow())
		if _, dead := j.deadFrom[r2]; dead {
			t.Fatalf("r2 dead %v after the log's return; want not before two timeouts", at.Sub(back))
		}
	}
	// Still silent after that: dead, from the end of the grace.
	beat("r1", 1, back.Add(2*timeout+time.Second))
	j.detect(reg.brokerNow())
	from, dead := j.deadFrom[r2]
	if !dead || !from.Equal(back.Add(2*timeout)) {
		t.Fatalf("r2 dead %v from %v; want dead from %v (the grace's end)", dead, from, back.Add(2*timeout))
	}
}
