package cluster

// The sessions table's applier (Claims): claims, state and ended records
// and tombstones applied in log order, with epoch fencing and the repair
// rule (README.md, "Epochs and fencing").

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// The cache keeps, per client id, the entry: epoch uv | incarnation uv |
// replica str | [the state record].

func (c *Claims) reset() {
	c.mu.Lock()
	c.sessions = map[string]*entry{}
	clear(c.ownedBy)
	c.mu.Unlock()
	c.routes.reset()
}

func encodeEntry(e *entry) []byte {
	b := binary.AppendUvarint(nil, uint64(e.owner.Epoch))
	b = binary.AppendUvarint(b, e.owner.Incarnation)
	b = appendStr(b, e.owner.Replica)
	if e.state != nil {
		b = append(b, stateRecord{Owner: e.owner.Replica, Incarnation: e.owner.Incarnation, State: *e.state, Unconfirmed: e.unconfirmed}.encode()...)
	}
	return b
}

func decodeEntry(clientID string, v []byte) (*entry, error) {
	d := decoder{b: v}
	e := &entry{refused: -1}
	e.owner.Epoch = int64(d.uvMax("cached epoch", 1<<63-1))
	e.owner.Incarnation = d.uv("cached incarnation")
	e.owner.Replica = d.str("cached replica")
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) > 0 {
		r, err := decodeState(clientID, d.b)
		if err != nil {
			return nil, err
		}
		e.state, e.unconfirmed = &r.State, r.Unconfirmed
	}
	return e, nil
}

func (c *Claims) restore(k, v []byte) error {
	e, err := decodeEntry(string(k), v)
	if err != nil {
		return fmt.Errorf("client %q: cached session: %w", k, err)
	}
	c.mu.Lock()
	c.putLocked(string(k), e)
	c.mu.Unlock()
	c.routes.set(string(k), e)
	return nil
}

func (c *Claims) ours(o Owner) bool {
	return o.Replica == c.replica && o.Incarnation == c.incarnation
}

// expiredAt: an offline state whose expiry passed at t protects nothing
// and resumes nothing. Decided on the claim's own time, so that every
// replica decides alike.
func expiredAt(st *mqttfront.SessionState, t time.Time) bool {
	if st.DisconnectedAt.IsZero() || st.Expiry == 0xFFFFFFFF {
		return false
	}
	return !t.Before(st.DisconnectedAt.Add(time.Duration(st.Expiry) * time.Second))
}

func (c *Claims) apply(r *Record) ([]byte, error) {
	v, err := c.applyRecord(r)
	if err == nil {
		c.mu.Lock()
		if int(r.Partition) >= len(c.seen) {
			c.seen = append(c.seen, make([]int64, int(r.Partition)+1-len(c.seen))...)
		}
		c.seen[r.Partition] = max(c.seen[r.Partition], r.Offset+1)
		c.mu.Unlock()
	}
	return v, err
}

func (c *Claims) applyRecord(r *Record) ([]byte, error) {
	id := string(r.Key)
	c.mu.Lock()
	e := c.sessions[id]
	c.mu.Unlock()
	if r.Value == nil {
		return c.applyTombstone(id, e), nil
	}
	kind, err := recordKind(r.Value)
	if err != nil {
		return nil, err
	}
	var next *entry
	var lost Owner
	clean := false
	switch kind {
	case kindClaim:
		cr, err := decodeClaim(r.Value)
		if err != nil {
			return nil, err
		}
		if next = c.applyClaim(id, e, &cr, r.Offset); next == e { // refused
			return encodeEntry(e), nil
		}
		clean = cr.CleanStart
	case kindState:
		sr, err := decodeState(id, r.Value)
		if err != nil {
			return nil, err
		}
		if e != nil && sr.State.Epoch < e.owner.Epoch {
			c.fenced(id, e, "state", sr.State.Epoch)
			return encodeEntry(e), nil
		}
		next = &entry{refused: -1}
		if e != nil {
			*next = *e
		}
		if e == nil || sr.State.Epoch > e.owner.Epoch {
			// Its claim was compacted away before this replica read it:
			// the record names the owner.
			next.owner = Owner{Replica: sr.Owner, Incarnation: sr.Incarnation, Epoch: sr.State.Epoch}
		}
		next.state, next.unconfirmed = &sr.State, false
	case kindEnded:
		er, err := decodeEnded(r.Value)
		if err != nil {
			return nil, err
		}
		if e != nil && er.Epoch < e.owner.Epoch {
			c.fenced(id, e, "ended", er.Epoch)
			return encodeEntry(e), nil
		}
		next = &entry{refused: -1}
		if e != nil {
			*next = *e
		}
		if e == nil || er.Epoch > e.owner.Epoch {
			next.owner = Owner{Epoch: er.Epoch} // owner unknown: its claim was compacted away
		}
		next.state, next.unconfirmed = nil, false
	case kindReap:
		return c.applyReap(id, e, r)
	default:
		return nil, fmt.Errorf("%w: kind %d in the sessions topic is not handled by this build", ErrCorrupt, kind)
	}
	if e != nil {
		lost = e.owner
	}
	c.mu.Lock()
	c.putLocked(id, next)
	c.mu.Unlock()
	if kind == kindClaim && c.onOwnerMoved != nil && lost.Replica != "" && lost.Replica != c.replica && lost.Replica != next.owner.Replica {
		defer c.onOwnerMoved(lost.Replica) // after the route table has the new owner
	}
	if kind == kindClaim && !clean && c.onHandOff != nil && lost.Epoch != next.owner.Epoch && c.ours(lost) && !c.ours(next.owner) {
		// The handover: the route switch happens with the session's move
		// in the front end (handover.go).
		c.onHandOff(id, lost, next.owner, func() { c.routes.set(id, next) })
		c.counts.superseded.Add(1)
		if c.onSuperseded != nil {
			c.onSuperseded(id, lost, next.owner)
		}
		return encodeEntry(next), nil
	}
	if kind == kindClaim && !clean && c.onRestoredMoved != nil && lost.Epoch != next.owner.Epoch &&
		lost.Replica == c.replica && !c.ours(lost) && next.owner.Replica != c.replica {
		// Taken from an earlier run of this replica: what the front end
		// restored of it goes to the new owner (handover.go).
		c.onRestoredMoved(id, next.owner, func() { c.routes.set(id, next) })
		return encodeEntry(next), nil
	}
	c.routes.set(id, next)
	if lost.Epoch != next.owner.Epoch && c.ours(lost) {
		c.counts.superseded.Add(1)
		if c.onSuperseded != nil {
			c.onSuperseded(id, lost, next.owner)
		}
		// A later claim of this incarnation (the device back here) is no
		// move: the front end resumes or takes over its local session
		// itself, queue included, as on one node.
		if c.onMoved != nil && !c.ours(next.owner) {
			c.onMoved(id, lost, clean)
		}
	}
	return encodeEntry(next), nil
}

// applyClaim derives the session after a claim at offset: a clean start
// or no valid previous state gives a fresh state, otherwise the previous
// state with the new owner. A claim refused by the owner binding returns
// e itself, with refused set.
func (c *Claims) applyClaim(id string, e *entry, cr *claimRecord, offset int64) *entry {
	var prev *mqttfront.SessionState
	next := &entry{refused: -1}
	if e != nil {
		next.beforeOwner, next.refused = e.owner, e.refused
		if e.state != nil && !expiredAt(e.state, cr.At) {
			prev = e.state
		}
	}
	if cr.Bound && prev != nil && prev.Username != "" && prev.Username != cr.Username {
		// A takeover [MQTT-3.1.4-3] by the same identity only
		// (mqttfront/README.md, "Owner"): the claim changes nothing.
		c.mu.Lock()
		e.refused = offset
		c.mu.Unlock()
		return e
	}
	st := &mqttfront.SessionState{ClientID: id, Epoch: offset, Username: cr.Username, Version: cr.Version, Expiry: cr.Expiry}
	if prev != nil && !cr.CleanStart {
		st.Subscriptions, st.InboundQoS2 = prev.Subscriptions, prev.InboundQoS2
		if st.Username == "" && !cr.Bound {
			st.Username = prev.Username
		}
		next.before = prev
	}
	next.owner = Owner{Replica: cr.Owner, Incarnation: cr.Incarnation, Epoch: offset}
	next.state = st
	return next
}

// applyTombstone removes an ended session and returns nil; over a live
// one it is fenced (a late tombstone of an owner that ended the session
// before a newer claim) and the entry stays.
func (c *Claims) applyTombstone(id string, e *entry) []byte {
	if e == nil || e.state == nil {
		c.mu.Lock()
		c.putLocked(id, nil)
		c.mu.Unlock()
		c.routes.set(id, nil)
		return nil
	}
	c.fenced(id, e, "tombstone", -1)
	return encodeEntry(e)
}

// fenced ignores a record written under an older epoch: a zombie write of
// an owner that had not yet seen a newer claim. If the session is this
// incarnation's, its state is written again (the repair rule), so that
// compaction, which keeps a key's last record, cannot leave the fenced one
// as the session's state for a cold reader.
func (c *Claims) fenced(id string, e *entry, what string, epoch int64) {
	c.log.Debug("cluster: fenced session record ignored", zap.String("client", id), zap.String("record", what),
		zap.Int64("epoch", epoch), zap.Int64("current", e.owner.Epoch))
	if !c.ours(e.owner) {
		return
	}
	c.repairMu.Lock()
	c.repairSet[id] = struct{}{}
	c.repairMu.Unlock()
	select {
	case c.repairSig <- struct{}{}:
	default:
	}
}

// repairLoop re-writes the sessions fenced() queued, until ctx ends.
func (c *Claims) repairLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.repairSig:
		}
		c.repairMu.Lock()
		ids := make([]string, 0, len(c.repairSet))
		for id := range c.repairSet {
			ids = append(ids, id)
		}
		clear(c.repairSet)
		c.repairMu.Unlock()
		for _, id := range ids {
			if err := c.repair(ctx, id); err != nil && ctx.Err() == nil {
				c.log.Warn("cluster: session repair failed", zap.String("client", id), zap.Error(err))
			}
		}
	}
}

// repair writes the session's current state (or its end) again under its
// epoch if this incarnation still owns it.
func (c *Claims) repair(ctx context.Context, id string) error {
	mu := c.writeLock(id)
	mu.Lock()
	defer mu.Unlock()
	c.mu.Lock()
	e := c.sessions[id]
	var st *mqttfront.SessionState
	var owner Owner
	if e != nil {
		st, owner = e.state, e.owner
	}
	c.mu.Unlock()
	if e == nil || !c.ours(owner) {
		return nil
	}
	p := c.Partition(id)
	var msgs []*sarama.ProducerMessage
	if st != nil {
		msgs = append(msgs, c.message(id, p, stateRecord{Owner: owner.Replica, Incarnation: owner.Incarnation, State: *st}.encode()))
	} else {
		msgs = append(msgs, c.message(id, p, endedRecord{Epoch: owner.Epoch}.encode()), c.message(id, p, nil))
	}
	if err := c.write(ctx, p, msgs); err != nil {
		return err
	}
	c.repairs.Add(1)
	return nil
}

// writeLock is the stripe that serializes clientID's state writes.
func (c *Claims) writeLock(clientID string) *sync.Mutex {
	h := uint32(2166136261)
	for i := 0; i < len(clientID); i++ {
		h = (h ^ uint32(clientID[i])) * 16777619
	}
	return &c.writeMu[h%uint32(len(c.writeMu))]
}

func (c *Claims) message(id string, p int32, v []byte) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: c.topic, Partition: p, Key: sarama.StringEncoder(id)}
	if v != nil { // a tombstone is a nil value, not an empty one
		m.Value = sarama.ByteEncoder(v)
	}
	return m
}

// write produces msgs (one partition, in order) and waits until this
// replica applied the last.
func (c *Claims) write(ctx context.Context, p int32, msgs []*sarama.ProducerMessage) error {
	if err := c.produce(func(p sarama.SyncProducer) error { return p.SendMessages(msgs) }); err != nil {
		return fmt.Errorf("produce session record: %w", err)
	}
	if err := c.table.WaitApplied(ctx, p, msgs[len(msgs)-1].Offset); err != nil {
		return fmt.Errorf("read back session record: %w", err)
	}
	return nil
}

// ErrNodeStopped: a session write after the node stopped (its producer
// is closed).
var ErrNodeStopped = errors.New("cluster node stopped")

// produce runs send with the producer unless the node stopped.
func (c *Claims) produce(send func(sarama.SyncProducer) error) error {
	c.prodMu.RLock()
	defer c.prodMu.RUnlock()
	if c.stopped || c.producer == nil {
		return ErrNodeStopped
	}
	return send(c.producer)
}

// stopWrites makes every later write fail with ErrNodeStopped, after the
// writes in flight; the node calls it before closing the producer.
func (c *Claims) stopWrites() {
	c.prodMu.Lock()
	c.stopped = true
	c.prodMu.Unlock()
}
