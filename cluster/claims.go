package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// ErrSuperseded is returned by Claim when a later claim for the same client
// was already in the log when this replica read its own: the CONNECT lost
// the race and must not be answered with a CONNACK.
var ErrSuperseded = errors.New("session claimed by a later CONNECT")

// ErrOwnerMismatch is returned by Claim when the claim was refused by the
// owner binding: the session belongs to another user.
var ErrOwnerMismatch = errors.New("session belongs to another user")

// Owner is who owns a session after the claims applied so far.
type Owner struct {
	Replica     string
	Incarnation uint64
	Epoch       int64 // the offset of the winning claim in its partition
}

// Claims decides session ownership by log order in the session's
// partition of the sessions topic: the later claim wins (README.md,
// "Epochs and fencing"). It is the sessions table's applier: besides the
// owner it keeps each session's state as the log says it is.
type Claims struct {
	replica     string
	incarnation uint64
	topic       string
	partitions  int32
	producer    sarama.SyncProducer
	table       *Table
	log         *zap.Logger
	// onSuperseded is told, on the table's goroutine, when a claim this
	// incarnation made is superseded by a later one. It must not block.
	onSuperseded func(clientID string, lost Owner, by Owner)
	// onMoved is the same news for Sessions, with whether the later claim
	// started clean. It must not block.
	onMoved func(clientID string, lost Owner, clean bool)
	// onHandOff, when set (the handover, handover.go), takes the place of
	// the route update and onMoved for a claim without clean start that
	// takes a session of this incarnation elsewhere: it runs switchRoutes
	// with the session's move in the front end. It must not block.
	onHandOff func(clientID string, lost, to Owner, switchRoutes func())
	// onOwnerMoved, when set, is told when a claim took a session from
	// another replica (from) to a third one or this one: from gets a
	// fence. It must not block.
	onOwnerMoved func(from string)
	// onRestoredMoved, when set (handover.go), takes the place of the
	// route update for a claim without clean start that takes to another
	// replica a session an earlier run of this replica owned: the front
	// end may hold it, restored from its store, and hands it over. It
	// must not block.
	onRestoredMoved func(clientID string, to Owner, switchRoutes func())
	// onReaped tells this incarnation that a reap ended its session under
	// lost (it was taken for dead); onWill delivers a reaped session's will
	// to the local subscribers. Both run on the table's goroutine and must
	// not block (janitor.go sets them).
	onReaped func(clientID string, lost Owner)
	onWill   func(m *mqttfront.Message)
	reaps    atomic.Uint64 // valid reaps applied

	// prodMu guards producer against its Close: writes hold it for
	// reading, stopWrites sets stopped before the node closes the producer.
	prodMu  sync.RWMutex
	stopped bool

	mu       sync.Mutex
	sessions map[string]*entry
	ownedBy  map[string]*ownedCount // live sessions per owner replica, kept by putLocked (view.go)
	// seen: per partition, the next offset applied to the sessions and
	// the route table (the table's own offsets move after a whole batch).
	seen []int64
	// routes is the route table kept from the entries (routes.go); nil
	// when routing is not set up (NewRouter).
	routes *routes

	// writeMu serializes the state writes of one client id (a stripe per
	// hash): a repair never lands between a front end's write and its
	// read back.
	writeMu [64]sync.Mutex

	repairMu  sync.Mutex
	repairSet map[string]struct{}
	repairSig chan struct{} // 1: a repair is pending
	repairs   atomic.Uint64

	counts claimCounts // this replica's claims by outcome (view.go)
}

// entry is one session as the log says it is.
type entry struct {
	owner Owner // zero Replica: unknown (its claim was compacted away, or it ended)
	// state is the session's state under owner.Epoch (what the last
	// claim derived or the last valid state record said); nil when the
	// session ended.
	state *mqttfront.SessionState
	// Set by the last claim applied, for its claimer's read back: the
	// state and owner just before it, and the claim's clean start.
	before      *mqttfront.SessionState
	beforeOwner Owner
	clean       bool
	// refused is the offset of the last claim the owner binding refused.
	refused int64
	// unconfirmed: a reap made owner.Epoch and its janitor has not yet
	// confirmed it with a state record; state.Will is the will it fired,
	// whose uplink is pending (reap.go).
	unconfirmed bool
}

func newClaims(replica string, incarnation uint64, topic string, partitions int32) *Claims {
	return &Claims{replica: replica, incarnation: incarnation, topic: topic, partitions: partitions,
		sessions: map[string]*entry{}, ownedBy: map[string]*ownedCount{}, repairSet: map[string]struct{}{}, repairSig: make(chan struct{}, 1), log: zap.NewNop()}
}

// OnSuperseded sets the callback told when one of this replica's claims is
// superseded. Set it before Run.
func (c *Claims) OnSuperseded(fn func(clientID string, lost, by Owner)) { c.onSuperseded = fn }

// Partition is the sessions partition of a client id: Java murmur2, the
// same in every replica and Kafka tool.
func (c *Claims) Partition(clientID string) int32 {
	return kafka.Partition([]byte(clientID), c.partitions)
}

// Claim claims clientID's session for this replica and returns the new
// owner (its epoch is the claim's offset) once this replica has applied
// its own claim (read your own write). ErrSuperseded: a later claim was
// already applied by then. ErrOwnerMismatch: the claim was refused by the
// owner binding (rec.Bound) and changed nothing.
func (c *Claims) Claim(ctx context.Context, clientID string, rec claimRecord) (Owner, error) {
	o, _, err := c.claim(ctx, clientID, rec)
	return o, err
}

// claim is Claim that also returns the session's entry as its claim left
// it (a copy).
func (c *Claims) claim(ctx context.Context, clientID string, rec claimRecord) (Owner, entry, error) {
	rec.Owner, rec.Incarnation = c.replica, c.incarnation
	if rec.At.IsZero() {
		rec.At = time.Now()
	}
	p := c.Partition(clientID)
	msg := &sarama.ProducerMessage{Topic: c.topic, Partition: p, Key: sarama.StringEncoder(clientID), Value: sarama.ByteEncoder(rec.encode())}
	// SendMessage cannot be cancelled: it is bounded by the producer's
	// retries and timeouts; ctx bounds the wait for the read-back.
	var off int64
	err := c.produce(func(p sarama.SyncProducer) (err error) {
		_, off, err = p.SendMessage(msg)
		return err
	})
	if err != nil {
		c.counts.failed.Add(1)
		return Owner{}, entry{}, fmt.Errorf("produce claim: %w", err)
	}
	if err := c.table.WaitApplied(ctx, p, off); err != nil {
		c.counts.failed.Add(1)
		return Owner{}, entry{}, fmt.Errorf("read back claim: %w", err)
	}
	c.mu.Lock()
	var e entry
	if ep := c.sessions[clientID]; ep != nil {
		e = *ep
	}
	c.mu.Unlock()
	switch {
	case e.refused == off && e.owner.Epoch != off:
		c.counts.refused.Add(1)
		return e.owner, e, ErrOwnerMismatch
	case e.owner.Epoch != off:
		c.counts.lost.Add(1)
		return e.owner, e, ErrSuperseded
	}
	c.counts.won.Add(1)
	return e.owner, e, nil
}

// Owner returns the current owner of clientID's session.
func (c *Claims) Owner(clientID string) (Owner, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.sessions[clientID]
	if e == nil || e.owner.Replica == "" {
		return Owner{}, false
	}
	return e.owner, true
}

// State returns the session's state as the log says it is (a copy whose
// slices are shared and must not be changed); false when there is none.
func (c *Claims) State(clientID string) (mqttfront.SessionState, Owner, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.sessions[clientID]
	if e == nil || e.state == nil {
		return mqttfront.SessionState{}, Owner{}, false
	}
	return *e.state, e.owner, true
}

// Repairs counts the state records this replica re-wrote after a fenced
// record or a tombstone landed over one of its live sessions.
func (c *Claims) Repairs() uint64 { return c.repairs.Load() }
