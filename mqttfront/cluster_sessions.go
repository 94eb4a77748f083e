package mqttfront

// Cluster sessions: the hook through which a session's ownership and state
// become cluster-wide (cluster/README.md, "Epochs and fencing"). The front
// end knows nothing of Kafka: it asks a SessionClaimer, which the bridge
// sets in cluster mode. With none set (one replica) every call site below
// is one nil check and today's path.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// SessionClaimer makes sessions cluster-wide: ownership decided by log
// order, and the session's state kept where every replica reads it. Its
// calls block (a produce and a read back); they are made with no lock of
// the server held, and every one is bounded by the claimer itself
// (cluster.claim_timeout) and by ctx, which ends at shutdown.
type SessionClaimer interface {
	// Claim makes this replica the owner of req.ClientID's session and
	// returns once this replica has read its own claim back (read your
	// own write). ErrSessionMoved: a later claim was read first (the
	// CONNECT lost a race and gets no CONNACK). ErrSessionOwner: the
	// session belongs to another user (req.Bound); the claim changed
	// nothing.
	Claim(ctx context.Context, req ClaimRequest) (ClaimResult, error)
	// Update writes st as the session's whole state under st.Epoch and
	// returns once this replica has read it back. ErrSessionMoved: a later
	// claim owns the session (st was not taken), ErrSessionReclaimed when
	// that claim is this replica's own; ErrSessionTooLarge: the
	// record would exceed the claimer's size limit (nothing was written).
	Update(ctx context.Context, st *SessionState) error
	// End records that the session owned under epoch ended (expiry 0 at
	// disconnect, or its expiry passed).
	End(ctx context.Context, clientID string, epoch int64) error
}

// Errors of a SessionClaimer.
var (
	// ErrSessionMoved: a later claim (a CONNECT at another replica, or a
	// newer one here) owns the session.
	ErrSessionMoved = errors.New("session claimed by a later connection")
	// ErrSessionReclaimed is the ErrSessionMoved of a later claim by this
	// same replica (a newer CONNECT here with the client id, e.g. a device
	// that redialed before its CONNACK): the session did not move, and
	// that CONNECT takes it over, queue included, as on one node.
	ErrSessionReclaimed = fmt.Errorf("%w at this replica", ErrSessionMoved)
	// ErrSessionOwner: the client id's session belongs to another user
	// (mqtt.auth.bind_client_id_to_user), cluster-wide.
	ErrSessionOwner = errors.New("client id belongs to a session of another user")
	// ErrSessionTooLarge: the session's record would exceed
	// cluster.max_session_record_bytes; SUBACK 0x97 (Quota exceeded).
	ErrSessionTooLarge = fmt.Errorf("session record too large: %w", ErrQuotaExceeded)
)

// ClaimRequest is a CONNECT's claim on its client id's session.
type ClaimRequest struct {
	ClientID   string
	Username   string // the identity the session is bound to
	CleanStart bool
	Version    byte
	Expiry     uint32 // seconds, after max_session_expiry; 0xFFFFFFFF = never
	// Bound is mqtt.auth.bind_client_id_to_user: the claim is refused
	// (ErrSessionOwner) when the session in the log, unexpired, belongs to
	// another non-anonymous user, the rule attach applies on one node.
	Bound bool
}

// ClaimResult is what a successful claim found.
type ClaimResult struct {
	// Epoch orders the session's owners: later claims have larger ones.
	Epoch int64
	// Prev is the session's state just before the claim in the log: nil
	// when there was none (never, ended, expired) or on clean start.
	Prev *SessionState
	// PrevHere: the previous owner is this replica (any run of it), so
	// the local session, with its queued messages, is the session.
	PrevHere bool
	// Hold: the previous owner, another live replica, hands over what the
	// session held (cluster_handover.go): the session built from Prev
	// holds its queue, and the CONNACK waits, until Import or at most
	// Hold. 0: nothing to wait for.
	Hold time.Duration
	// HoldTimedOut, when not nil, is told that a hold ended at its
	// timeout (for metrics).
	HoldTimedOut func()
}

// SessionState is a session's state as the cluster keeps it: everything
// but the messages it holds (queue, inflight), which stay with the owner.
type SessionState struct {
	ClientID       string
	Epoch          int64
	Username       string
	Version        byte
	Expiry         uint32
	DisconnectedAt time.Time // zero while online
	Subscriptions  []topics.Sub
	InboundQoS2    []uint16 // PUBREC'd, awaiting PUBREL [MQTT-4.3.3-9]
	// Will is the connection's will while online (WillDelay its delay), or
	// the delayed will pending while offline (due at WillAt).
	Will      *Message
	WillDelay uint32
	WillAt    time.Time
}

// SetSessionClaimer makes sessions cluster-wide (cluster mode). Call it
// before Run; nil (the default) is one replica.
func (s *Server) SetSessionClaimer(sc SessionClaimer) { s.claimer = sc }

// quitContext is a context that ends when shutdown begins, for the
// claimer's calls.
func (s *Server) quitContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// claim claims c's session before attach, and prepares the local session
// from the log's state when the session was owned elsewhere: a stale local
// session is dropped and one built from the log takes its place, so that
// attach resumes it (Session Present, subscriptions) as it would locally.
func (s *Server) claim(c *conn, clean bool, expiry uint32) (ClaimResult, error) {
	ctx, cancel := s.quitContext()
	defer cancel()
	cl, err := s.claimer.Claim(ctx, ClaimRequest{ClientID: c.clientID, Username: c.username, CleanStart: clean,
		Version: byte(c.version), Expiry: expiry, Bound: s.cfg.Auth.BindClientIDToUser})
	if err != nil {
		return cl, err
	}
	for {
		s.mu.Lock()
		local := s.sessions[c.clientID]
		if local == nil && (clean || cl.Prev == nil) {
			s.mu.Unlock()
			return cl, nil
		}
		if local != nil && cl.PrevHere {
			// The local session is the session (with its queue): attach
			// resumes, takes over or discards it as on one node.
			s.mu.Unlock()
			return cl, nil
		}
		if local != nil {
			local.mu.Lock()
			old := local.conn
			local.moved = true
			local.mu.Unlock()
			if old != nil {
				// An older connection here whose loss of the session is
				// still on its way: it ends as taken over.
				s.mu.Unlock()
				old.kick(ReasonTakeover, packets.SessionTakenOver)
				<-old.done
				continue
			}
			s.removeSessionLocked(local)
			s.mu.Unlock()
			local.mu.Lock()
			handing := local.handing
			local.mu.Unlock()
			if !handing { // a handed over session's messages are TakeHeld's
				s.dropMovedMessages(local)
				s.forgetMoved(local)
			}
			continue
		}
		if !clean && cl.Prev != nil {
			ss := s.sessionFromLog(cl.Prev)
			ss.epoch = cl.Epoch // claimed once attached; Import matches it before
			ss.seq = holdSeqBase
			if cl.Hold > 0 {
				ss.awaiting, ss.handed = true, make(chan struct{})
			}
			s.sessions[ss.id] = ss
		}
		s.mu.Unlock()
		return cl, nil
	}
}

// sessionFromLog builds an offline session from the log's state (s.mu
// held). A delayed will is not taken: the reconnect cancels it
// [MQTT-3.1.3-9], and the previous owner fires it when the session ended.
func (s *Server) sessionFromLog(st *SessionState) *session {
	ss := newSession(st.ClientID)
	ss.version = packets.Version(st.Version)
	ss.username = st.Username
	ss.expiry = s.capExpiry(st.Expiry)
	ss.disconnectedAt = st.DisconnectedAt
	if ss.disconnectedAt.IsZero() {
		ss.disconnectedAt = timeNow() // its owner lost it while online
	}
	ss.inQoS2 = st.InboundQoS2
	for _, sub := range st.Subscriptions {
		sub.ClientID = st.ClientID
		s.index.Add(sub)
	}
	return ss
}

// stateLocked is the session's cluster state (ss.mu held).
func (s *Server) stateLocked(ss *session) *SessionState {
	st := &SessionState{
		ClientID:       ss.id,
		Epoch:          ss.epoch,
		Username:       ss.username,
		Version:        byte(ss.version),
		Expiry:         ss.expiry,
		DisconnectedAt: ss.disconnectedAt,
		Subscriptions:  s.index.ClientSubs(ss.id),
		InboundQoS2:    ss.inQoS2,
	}
	if ss.conn != nil {
		st.InboundQoS2 = ss.conn.ring.snapshotQoS2()
		st.Will, st.WillDelay = ss.will, ss.willDelay
	} else if ss.pendingWill != nil {
		st.Will, st.WillAt = ss.pendingWill, ss.willAt
	}
	return st
}

// clusterUpdate writes the session's state to the cluster and waits until
// it is read back. Nothing to do without a claimer, for a session that
// moved or ended, or for one not claimed yet. Answers to a packet wait
// with a ctx that ends at shutdown (quitContext); the writes of a
// detach use a ctx of their own, bounded by the claimer alone, so that
// the sessions a shutdown disconnects are recorded offline.
func (s *Server) clusterUpdate(ctx context.Context, ss *session) error {
	if s.claimer == nil {
		return nil
	}
	ss.persistMu.Lock() // one state write at a time, in snapshot order
	defer ss.persistMu.Unlock()
	ss.mu.Lock()
	if ss.moved || ss.ended || !ss.claimed {
		ss.mu.Unlock()
		return nil
	}
	st := s.stateLocked(ss)
	ss.mu.Unlock()
	return s.claimer.Update(ctx, st)
}

// clusterEnd records the end of a session this replica owned.
func (s *Server) clusterEnd(ss *session) {
	ss.mu.Lock()
	epoch, moved, claimed := ss.epoch, ss.moved, ss.claimed
	ss.mu.Unlock()
	if s.claimer == nil || moved || !claimed {
		return
	}
	// Bounded by the claimer; also at shutdown (see clusterUpdate).
	if err := s.claimer.End(context.Background(), ss.id, epoch); err != nil {
		s.log.Warn("mqtt: cluster: record session end", zap.String("client", ss.id), zap.Error(err))
	}
}

// Supersede is told by the cluster that the session's claim at epoch was
// superseded by a later one at another replica (or by a newer connection
// here): a connection still attached under that epoch is closed with v5
// DISCONNECT 0x8E (Session taken over) [MQTT-3.1.4-3], and the local
// session is dropped: the new owner has its state. clean: the new claim
// started clean, so the old session ended and a delayed will goes out now
// [MQTT-3.1.3-9]; otherwise the reconnect cancelled it. Supersede does not
// block (it is called from the cluster's log reader).
//
// The queued and inflight messages are dropped, counted (session_moved)
// and logged: the cluster calls Supersede for a clean start, which ends
// the session, and when the handover is off (cluster.handover_timeout
// 0); otherwise MoveSession (cluster_handover.go) hands them over.
func (s *Server) Supersede(clientID string, epoch int64, clean bool) {
	s.moveAway(clientID, epoch, func(ss *session) {
		ss.movedClean = clean
		ss.releaseHoldLocked()
	})
}

// moveAway marks the session of clientID claimed under epoch as moved
// (mark, with ss.mu held, sets what else the caller needs), then closes
// its connection with v5 DISCONNECT 0x8E (detach drops the session) or,
// offline, drops it. Nothing happens when the session is gone, was not
// claimed under epoch, or already moved or ended. It does not block.
func (s *Server) moveAway(clientID string, epoch int64, mark func(ss *session)) {
	s.mu.RLock()
	ss := s.sessions[clientID]
	s.mu.RUnlock()
	if ss == nil {
		return
	}
	ss.mu.Lock()
	if !ss.claimed || ss.epoch != epoch || ss.moved || ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.moved = true
	mark(ss)
	c := ss.conn
	ss.mu.Unlock()
	if c != nil {
		c.kick(ReasonTakeover, packets.SessionTakenOver) // detach drops the session
		return
	}
	s.dropMoved(ss)
}

// dropMoved removes a session that now lives at another replica. A
// delayed will goes out only when the new claim ended the session. Called
// from the cluster's log reader (Supersede) or a connection's detach: it
// must not wait for the log, so the store is cleared on a goroutine.
func (s *Server) dropMoved(ss *session) {
	s.mu.Lock()
	s.removeSessionLocked(ss)
	s.mu.Unlock()
	ss.mu.Lock()
	will := ss.pendingWill
	ss.pendingWill = nil
	clean := ss.movedClean
	ss.mu.Unlock()
	s.dropMovedMessages(ss)
	bg := func() {
		if will != nil && clean {
			s.publishWill(will) // [MQTT-3.1.3-9] the old session ended
		}
		s.forgetMoved(ss)
	}
	if !s.goFunc(bg) {
		bg()
	}
}

// dropMovedMessages counts, logs and forgets the messages a moved session
// held here: their handover to the new owner is not implemented yet.
func (s *Server) dropMovedMessages(ss *session) {
	ss.mu.Lock()
	n := len(ss.queue) + len(ss.inflight)
	ss.queue, ss.inflight, ss.queueBytes = nil, nil, 0
	ss.mu.Unlock()
	if n > 0 {
		s.stats.drops[DropSessionMoved].Add(uint64(n))
		s.log.Warn("mqtt: cluster: session moved to another replica; its queued messages are not handed over",
			zap.String("client", ss.id), zap.Int("messages", n), zap.Stringer("drop", DropSessionMoved))
	}
}

// forgetMoved deletes a moved session's store record and messages, after
// any write of it in flight (persistMu). A session of the same client id
// created here since (the device came back) keeps its record: its first
// write replaces the record whole.
func (s *Server) forgetMoved(ss *session) {
	if s.store == nil {
		return
	}
	ss.persistMu.Lock()
	defer ss.persistMu.Unlock()
	s.mu.RLock()
	back := s.sessions[ss.id] != nil
	s.mu.RUnlock()
	if back {
		return
	}
	if err := s.store.DeleteSession(ss.id); err != nil {
		s.log.Error("mqtt: delete session", zap.String("client", ss.id), zap.Error(err))
	}
	ss.stored = false
}
