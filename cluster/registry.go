package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// ErrDuplicateReplica refuses a start while another live replica uses the
// same replica id.
var ErrDuplicateReplica = errors.New("replica id in use by a live replica")

// Replica is what the registry knows of one replica.
type Replica struct {
	ID          string
	Incarnation uint64
	State       byte
	Seq         uint64
	StartedAt   time.Time
	LastSeen    time.Time // broker timestamp (LogAppendTime) of its last heartbeat
	Admin, MQTT string    // the addresses it advertises (view.go); "" when it gave none
}

// Registry keeps the replicas table from heartbeats on the compacted
// replicas topic and sends this replica's heartbeats (README.md, "Replica
// registry").
type Registry struct {
	id          string
	incarnation uint64
	topic       string
	interval    time.Duration
	timeout     time.Duration
	producer    sarama.SyncProducer
	table       *Table
	log         *zap.Logger

	mu       sync.Mutex
	replicas map[string]Replica
	newest   time.Time // newest broker timestamp seen: the broker's "now"
	// resumed is the broker timestamp that ended the latest silence of the
	// whole log longer than the timeout (no replica, this one included,
	// could write a heartbeat: Kafka was away); zero before any.
	resumed   time.Time
	startAt   int64  // offset of our starting record; -1 before it
	conflict  string // a live foreign incarnation seen after startAt
	foreignAt int64  // offset of the latest alive heartbeat of another incarnation under our id; -1 none
	foreign   string // what it was, for the error
	beat      chan struct{}
	// addrs gives the addresses each heartbeat advertises (Node.Advertise);
	// nil: none.
	addrs func() (admin, mqtt string)
	// Conflicts counts foreign heartbeats under our id while running
	// (exported as a metric by the wiring).
	conflicts uint64
	// crashed: the node crashed at a failpoint (failpoint.go); no stopping
	// heartbeat.
	crashed atomic.Bool
}

func newRegistry(id string, incarnation uint64, topic string, interval, timeout time.Duration, log *zap.Logger) *Registry {
	return &Registry{id: id, incarnation: incarnation, topic: topic, interval: interval, timeout: timeout, log: log,
		replicas: map[string]Replica{}, startAt: -1, foreignAt: -1, beat: make(chan struct{}, 1)}
}

// Live returns the replicas whose last heartbeat is within the replica
// timeout of the newest heartbeat seen, in the broker's clock, and that did
// not say they were stopping.
func (r *Registry) Live() []Replica {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Replica
	for _, rep := range r.replicas {
		if rep.State != replicaStopping && r.newest.Sub(rep.LastSeen) <= r.timeout {
			out = append(out, rep)
		}
	}
	return out
}

// Replicas returns every replica the registry knows, live or not.
func (r *Registry) Replicas() []Replica {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Replica, 0, len(r.replicas))
	for _, rep := range r.replicas {
		out = append(out, rep)
	}
	return out
}

// Conflicts counts heartbeats of another incarnation under this replica's
// id seen while running.
func (r *Registry) Conflicts() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conflicts
}

func (r *Registry) send(state byte, seq uint64, started time.Time) (int64, error) {
	hb := heartbeatRecord{Incarnation: r.incarnation, State: state, Seq: seq, StartedAt: started}
	if r.addrs != nil {
		hb.Admin, hb.MQTT = r.addrs()
	}
	v := hb.encode()
	_, off, err := r.producer.SendMessage(&sarama.ProducerMessage{Topic: r.topic, Partition: 0, Key: sarama.StringEncoder(r.id), Value: sarama.ByteEncoder(v)})
	if err != nil {
		return 0, fmt.Errorf("produce heartbeat: %w", err)
	}
	return off, nil
}

// start writes a starting record and watches the topic for two heartbeat
// intervals (at least minIDCheck) after reading it back: a heartbeat of another incarnation with
// our id in that window means another live replica holds the id.
func (r *Registry) start(ctx context.Context, started time.Time) error {
	off, err := r.send(replicaStarting, 0, started)
	if err != nil {
		return err
	}
	r.noteStarted(off)
	if err := r.table.WaitApplied(ctx, 0, off); err != nil {
		return fmt.Errorf("read back starting record: %w", err)
	}
	t := time.NewTimer(r.idCheckWindow())
	defer t.Stop()
	tick := time.NewTicker(r.interval / 4)
	defer tick.Stop()
	for {
		r.mu.Lock()
		conflict := r.conflict
		r.mu.Unlock()
		if conflict != "" {
			return fmt.Errorf("cluster.replica_id %q: %s: %w", r.id, conflict, ErrDuplicateReplica)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			// Read what arrived up to now before deciding.
			r.mu.Lock()
			conflict = r.conflict
			r.mu.Unlock()
			if conflict != "" {
				return fmt.Errorf("cluster.replica_id %q: %s: %w", r.id, conflict, ErrDuplicateReplica)
			}
			return nil
		case <-tick.C:
		}
	}
}

// minIDCheck is the shortest id check.
const minIDCheck = time.Second

// idCheckWindow is how long start watches for a live holder of the id
// after reading back its starting record.
func (r *Registry) idCheckWindow() time.Duration { return max(2*r.interval, minIDCheck) }

// noteStarted records the offset of this incarnation's starting record.
// The live holder's answer may have been applied already (the reader does
// not wait for the producer to hand us the offset): it is a conflict too.
func (r *Registry) noteStarted(off int64) {
	r.mu.Lock()
	r.startAt = off
	if r.foreignAt > off {
		r.conflictLocked()
	}
	r.mu.Unlock()
}

// conflictLocked records, counts and logs the latest alive heartbeat of
// another incarnation under our id as a conflict (once).
func (r *Registry) conflictLocked() {
	if r.conflict != "" {
		return
	}
	r.conflict = r.foreign
	r.conflicts++
	r.log.Error("cluster: another replica uses this replica id", zap.String("replica_id", r.id), zap.String("seen", r.foreign))
}

// heartbeat sends alive heartbeats every interval until ctx ends, then a
// stopping one (best effort).
func (r *Registry) heartbeat(ctx context.Context, started time.Time) {
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	var seq uint64
	for {
		seq++
		if _, err := r.send(replicaAlive, seq, started); err != nil {
			r.log.Warn("cluster: heartbeat", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			if r.crashed.Load() {
				return
			}
			if _, err := r.send(replicaStopping, seq+1, started); err != nil {
				r.log.Warn("cluster: stopping heartbeat", zap.Error(err))
			}
			return
		case <-tick.C:
		case <-r.beat:
		}
	}
}

// The applier of the replicas table. The cache keeps the broker timestamp
// (8 bytes, Unix ms) followed by the heartbeat record.

func (r *Registry) reset() {
	r.mu.Lock()
	r.replicas = map[string]Replica{}
	r.newest = time.Time{}
	r.foreignAt, r.foreign = -1, ""
	r.mu.Unlock()
}

func (r *Registry) restore(k, v []byte) error {
	if len(v) < 8 {
		return fmt.Errorf("%w: cached heartbeat of %q", ErrCorrupt, k)
	}
	hb, err := decodeHeartbeat(v[8:])
	if err != nil {
		return fmt.Errorf("replica %q: %w", k, err)
	}
	ts := time.UnixMilli(int64(binary.BigEndian.Uint64(v)))
	r.mu.Lock()
	r.note(string(k), hb, ts)
	r.mu.Unlock()
	return nil
}

func (r *Registry) apply(rec *Record) ([]byte, error) {
	if rec.Value == nil {
		r.mu.Lock()
		delete(r.replicas, string(rec.Key))
		r.mu.Unlock()
		return nil, nil
	}
	hb, err := decodeHeartbeat(rec.Value)
	if err != nil {
		return nil, err
	}
	id := string(rec.Key)
	r.mu.Lock()
	r.note(id, hb, rec.Timestamp)
	if id == r.id && hb.Incarnation != r.incarnation && hb.State == replicaAlive && rec.Offset > r.foreignAt {
		r.foreignAt = rec.Offset
		r.foreign = fmt.Sprintf("incarnation %x sent a heartbeat at %v", hb.Incarnation, rec.Timestamp)
	}
	if id == r.id && hb.Incarnation != r.incarnation && r.startAt >= 0 && rec.Offset > r.startAt {
		switch {
		case hb.State == replicaAlive:
			r.conflictLocked()
		case hb.State == replicaStarting:
			// Someone starts with our id: show it we are alive at once.
			select {
			case r.beat <- struct{}{}:
			default:
			}
		}
	}
	r.mu.Unlock()
	return append(binary.BigEndian.AppendUint64(nil, uint64(rec.Timestamp.UnixMilli())), rec.Value...), nil
}

func (r *Registry) note(id string, hb heartbeatRecord, ts time.Time) {
	r.replicas[id] = Replica{ID: id, Incarnation: hb.Incarnation, State: hb.State, Seq: hb.Seq, StartedAt: hb.StartedAt, LastSeen: ts,
		Admin: hb.Admin, MQTT: hb.MQTT}
	if ts.After(r.newest) {
		if !r.newest.IsZero() && ts.Sub(r.newest) > r.timeout {
			r.resumed = ts
		}
		r.newest = ts
	}
}

// logResumed is when, in the broker's clock, the replicas log last came
// back after a silence longer than the replica timeout (zero: never). The
// janitor does not count a replica's silence within such a gap against
// it: nobody could be heard then.
func (r *Registry) logResumed() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resumed
}
