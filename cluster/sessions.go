package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// Superseder is told when a session this replica owns was claimed by a
// later CONNECT (*mqttfront.Server implements it). It must not block: it
// is called from the sessions table's reader.
type Superseder interface {
	Supersede(clientID string, epoch int64, clean bool)
}

// Sessions is the front end's mqttfront.SessionClaimer in cluster mode:
// claims, state and ended records in the sessions topic, each read back
// before the call returns.
type Sessions struct {
	node     *Node
	claims   *Claims
	timeout  time.Duration
	maxBytes int
	stuck    stuckWrites // sessionsbound.go
}

var _ mqttfront.SessionClaimer = (*Sessions)(nil)

// NewSessions builds the session claimer of node n and routes the news of
// superseded claims to sup. Call it before n.Run; its methods work once n
// is Ready (until then the replica refuses CONNECT anyway).
func NewSessions(n *Node, sup Superseder) *Sessions {
	s := &Sessions{node: n, claims: n.claims, timeout: n.cfg.ClaimTimeout, maxBytes: n.cfg.MaxSessionRecordBytes}
	if sup != nil {
		n.claims.onMoved = func(clientID string, lost Owner, clean bool) {
			sup.Supersede(clientID, lost.Epoch, clean)
		}
	}
	return s
}

// Claim produces the claim and waits until this replica has applied it;
// the result carries the state the log had just before it.
func (s *Sessions) Claim(ctx context.Context, req mqttfront.ClaimRequest) (mqttfront.ClaimResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var o Owner
	var e entry
	err := s.bounded(ctx, s.claims.Partition(req.ClientID), func(ctx context.Context) (err error) {
		o, e, err = s.claims.claim(ctx, req.ClientID, claimRecord{CleanStart: req.CleanStart, Version: req.Version,
			Expiry: req.Expiry, Username: req.Username, Bound: req.Bound})
		return err
	})
	if errors.Is(err, ErrSessionsUnreachable) && ctx.Err() == nil {
		s.claims.counts.failed.Add(1) // refused without producing (a stuck partition)
	}
	switch {
	case errors.Is(err, ErrOwnerMismatch):
		return mqttfront.ClaimResult{}, fmt.Errorf("claim: %w", mqttfront.ErrSessionOwner)
	case errors.Is(err, ErrSuperseded):
		return mqttfront.ClaimResult{}, fmt.Errorf("claim: %w", mqttfront.ErrSessionMoved)
	case err != nil:
		return mqttfront.ClaimResult{}, err
	}
	res := mqttfront.ClaimResult{Epoch: o.Epoch, PrevHere: e.beforeOwner.Replica == s.claims.replica}
	if e.before != nil && !req.CleanStart {
		prev := *e.before
		res.Prev = &prev
		if r := s.node.router; r != nil && r.hand != nil {
			// Another live replica hands over what the session held.
			res.Hold = r.hand.holdFor(e.beforeOwner)
			res.HoldTimedOut = func() { r.hand.stats.holdTimeouts.Add(1) }
		}
	}
	return res, nil
}

// Update writes st whole under st.Epoch and waits until it is applied.
func (s *Sessions) Update(ctx context.Context, st *mqttfront.SessionState) error {
	c := s.claims
	rec := stateRecord{Owner: c.replica, Incarnation: c.incarnation, State: *st}.encode()
	if len(rec) > s.maxBytes {
		return fmt.Errorf("%w: %d bytes, cluster.max_session_record_bytes is %d", mqttfront.ErrSessionTooLarge, len(rec), s.maxBytes)
	}
	return s.write(ctx, st.ClientID, st.Epoch, rec, false)
}

// End writes the session's end under epoch, then a tombstone, so that
// compaction removes the key.
func (s *Sessions) End(ctx context.Context, clientID string, epoch int64) error {
	err := s.write(ctx, clientID, epoch, endedRecord{Epoch: epoch}.encode(), true)
	if errors.Is(err, mqttfront.ErrSessionMoved) {
		return nil // the session lives on elsewhere: not this replica's to end
	}
	return err
}

// write produces one state or ended record (and a tombstone after the
// latter) if the session is still owned under epoch, and waits until it
// is applied. ErrSessionMoved when a later claim owns the session,
// before or after the write (then the record was fenced);
// ErrSessionReclaimed when that claim is this incarnation's own.
func (s *Sessions) write(ctx context.Context, clientID string, epoch int64, rec []byte, tombstone bool) error {
	c := s.claims
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.bounded(ctx, c.Partition(clientID), func(ctx context.Context) error {
		return s.writeLocked(ctx, clientID, epoch, rec, tombstone)
	})
}

// writeLocked is write under the client id's write lock, on bounded's
// goroutine: a caller that gave up while it waited for the lock writes
// nothing.
func (s *Sessions) writeLocked(ctx context.Context, clientID string, epoch int64, rec []byte, tombstone bool) error {
	c := s.claims
	mu := c.writeLock(clientID)
	mu.Lock()
	defer mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write session state: %w", err)
	}
	if o, _ := c.Owner(clientID); o.Epoch != epoch {
		return fmt.Errorf("write session state: %w", c.movedTo(o))
	}
	p := c.Partition(clientID)
	msgs := []*sarama.ProducerMessage{c.message(clientID, p, rec)}
	if tombstone {
		msgs = append(msgs, c.message(clientID, p, nil))
	}
	if err := c.write(ctx, p, msgs); err != nil {
		return err
	}
	if o, _ := c.Owner(clientID); o.Epoch != epoch && !tombstone {
		return fmt.Errorf("write session state: %w", c.movedTo(o))
	}
	return nil
}

// movedTo is the error of a write whose epoch a later claim by o
// superseded: ErrSessionReclaimed when o is this incarnation (a newer
// CONNECT here, which takes the local session over: no move), else
// ErrSessionMoved.
func (c *Claims) movedTo(o Owner) error {
	if c.ours(o) {
		return mqttfront.ErrSessionReclaimed
	}
	return mqttfront.ErrSessionMoved
}
