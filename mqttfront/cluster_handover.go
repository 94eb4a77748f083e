package mqttfront

// Cluster handover: when a later claim takes a session to another
// replica, what the session holds here (queued and inflight messages, the
// inbound QoS 2 ids) goes with it (cluster/README.md, "Handover"). The
// old owner moves the session under the route view (MoveSession), takes
// what it held once its connection closed (TakeHeld) and, once the new
// owner has it, forgets it (HandedOver). The new owner holds its queue
// until the handover arrives (ClaimResult.Hold) and imports it (Import).
// The front end knows nothing of Kafka: the cluster carries the Handover.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
)

// HeldMessage is one message a session held for its client.
type HeldMessage struct {
	Msg    *Message
	QoS    byte // granted to this session
	Retain bool
	SubIDs []uint32
	// PacketID and State: store.StatePublished (sent, not acked) or
	// store.StateReleased (PUBREC received, PUBREL sent) for an inflight
	// message; store.StateQueued and 0 for a queued one.
	PacketID uint16
	State    byte
}

// Handover is what a session held at the replica it left.
type Handover struct {
	ClientID string
	Epoch    int64 // the claim that took the session
	// Held: the inflight messages in the order they were sent, then the
	// queued ones in order.
	Held []HeldMessage
	// InboundQoS2: PUBREC'd ids awaiting PUBREL [MQTT-4.3.3-9]: a PUBLISH
	// sent again with one of them is not delivered twice.
	InboundQoS2 []uint16

	ss   *session // TakeHeld's session, for HandedOver
	seqs []uint64 // its store records
}

// holdSeqBase starts the store sequence numbers of a session built from
// the log (it was owned by another replica), so that messages handed over
// later, numbered from 1, come first when the store is read back.
const holdSeqBase = 1 << 40

// holdRoutes read-holds the route view in cluster mode (see viewMu).
func (s *Server) holdRoutes() bool {
	if s.router == nil {
		return false
	}
	s.viewMu.RLock()
	return true
}

func (s *Server) releaseRoutes(held bool) {
	if held {
		s.viewMu.RUnlock()
	}
}

// HoldRoutes read-holds the route view: the cluster's inbox holds it
// across a copy's Deliver and the forwards it decides on, so that a
// session's move here (MoveSession) or a fence (RoutesBarrier) falls
// before or after the whole copy. Release it with ReleaseRoutes; do not
// call another Server method that routes while holding it.
func (s *Server) HoldRoutes() { s.viewMu.RLock() }

// ReleaseRoutes ends HoldRoutes.
func (s *Server) ReleaseRoutes() { s.viewMu.RUnlock() }

// RoutesBarrier returns once every publish and copy that was routing when
// it was called has handed its copies to the router: what the router
// sends after, it sends on the route view it has now (the cluster's
// fences).
func (s *Server) RoutesBarrier() {
	s.viewMu.Lock()
	s.viewMu.Unlock() //nolint:staticcheck // an empty critical section is the barrier
}

// Holds reports whether this replica holds clientID's session and it
// takes copies (a session whose claim is still being attached is not
// held yet).
func (s *Server) Holds(clientID string) bool {
	s.mu.RLock()
	ss := s.sessions[clientID]
	s.mu.RUnlock()
	return ss != nil && ss.takesCopies()
}

// MoveSession is told by the cluster that a later claim took the session
// owned here under epoch to another replica without a clean start.
// switchRoutes (the cluster's route table now naming the new owner) runs
// under the route view's write lock together with the session's move, so
// that each publish here either reached the session before (and goes
// with the handover) or is routed to the new owner after: never both,
// never neither. A connection under epoch is closed with v5 DISCONNECT
// 0x8E [MQTT-3.1.4-3]. The session stays, handing: copies routed here on
// the old view still join it, until TakeHeld. It reports whether this
// replica held the session under epoch. It does not block on the network
// (it is called from the cluster's log reader).
func (s *Server) MoveSession(clientID string, epoch int64, switchRoutes func()) bool {
	s.viewMu.Lock()
	if switchRoutes != nil {
		switchRoutes()
	}
	s.mu.Lock()
	ss := s.sessions[clientID]
	var c *conn
	held := false
	if ss != nil {
		ss.mu.Lock()
		if ss.claimed && ss.epoch == epoch && !ss.moved && !ss.ended {
			ss.moved, ss.handing, held = true, true, true
			c = ss.conn
			ss.releaseHoldLocked() // it waited for a handover itself: it goes on with this one
		}
		ss.mu.Unlock()
	}
	if held {
		if s.handing == nil {
			s.handing = map[string]*session{}
		}
		s.handing[clientID] = ss
	}
	s.mu.Unlock()
	s.viewMu.Unlock()
	if c != nil {
		c.kick(ReasonTakeover, packets.SessionTakenOver) // detach leaves the session to TakeHeld
	}
	return held
}

// TakeHeld waits until the connection of a session MoveSession moved has
// closed, then takes what the session held (its inflight and queued
// messages, its inbound QoS 2 ids) and removes it from this replica.
// Copies that reach it after go to the new owner (Deliver reports the
// session missing). Its store records stay until HandedOver, so a crash
// before the new owner has them loses nothing. nil: no session of
// clientID is being handed over under epoch.
func (s *Server) TakeHeld(ctx context.Context, clientID string, epoch int64) (*Handover, error) {
	s.mu.RLock()
	ss := s.handing[clientID]
	s.mu.RUnlock()
	if ss == nil {
		return nil, nil
	}
	ss.mu.Lock()
	c, ok := ss.conn, ss.epoch == epoch
	ss.mu.Unlock()
	if !ok {
		return nil, nil
	}
	if c != nil {
		select {
		case <-c.done: // detached: the inflight window and QoS 2 ids are final
		case <-ctx.Done():
			return nil, fmt.Errorf("take held messages: %w", ctx.Err())
		}
	}
	// inboxMu: no Deliver is between choosing this session and queueing
	// into it.
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	s.mu.Lock()
	if s.handing[clientID] == ss {
		delete(s.handing, clientID)
	}
	if s.sessions[clientID] == ss {
		s.removeSessionLocked(ss)
	}
	s.mu.Unlock()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.ended = true
	h := &Handover{ClientID: clientID, Epoch: epoch, InboundQoS2: ss.inQoS2, ss: ss}
	ws := make([]*outMsg, 0, len(ss.inflight))
	for _, om := range ss.inflight {
		ws = append(ws, om)
	}
	slices.SortFunc(ws, func(a, b *outMsg) int {
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	for _, om := range append(ws, ss.queue...) {
		h.Held = append(h.Held, HeldMessage{Msg: om.m, QoS: om.qos, Retain: om.retain, SubIDs: om.subIDs, PacketID: om.pid, State: om.state})
		if om.inStore {
			h.seqs = append(h.seqs, om.seq)
		}
	}
	ss.queue, ss.inflight, ss.queueBytes, ss.inQoS2 = nil, nil, 0, nil
	ss.pendingWill = nil // the claim resumed the session: its delayed will is cancelled [MQTT-3.1.3-9]
	return h, nil
}

// HandedOver deletes what TakeHeld took from the store, once the new owner
// has it.
func (s *Server) HandedOver(h *Handover) {
	if h == nil || h.ss == nil || s.store == nil {
		return
	}
	ss := h.ss
	ss.persistMu.Lock()
	defer ss.persistMu.Unlock()
	s.mu.RLock()
	back := s.sessions[ss.id] != nil
	s.mu.RUnlock()
	if !back {
		if err := s.store.DeleteSession(ss.id); err != nil {
			s.log.Error("mqtt: delete session", zap.String("client", ss.id), zap.Error(err))
		}
		ss.stored = false
		return
	}
	// The device came back here meanwhile: its new session keeps the
	// record; only the messages handed over go.
	for _, seq := range h.seqs {
		if err := s.store.DeleteMessage(ss.id, seq); err != nil {
			s.log.Error("mqtt: delete message", zap.String("client", ss.id), zap.Error(err))
		}
	}
}

// Import gives a session what its previous owner held: its inflight
// messages first (sent again with DUP, or PUBREL [MQTT-4.4.0-1]), then its
// queued ones, all before what was queued here meanwhile, and its inbound
// QoS 2 ids. It ends the session's hold (the CONNECT waiting for it goes
// on). mark is as for Deliver: written with the messages, and an Import
// read again is skipped. ok false: this replica holds no session of
// h.ClientID under h.Epoch (it moved on, or ended): the caller passes the
// messages on. late: the hold had ended before (timeout): order with what
// was delivered meanwhile is not kept. err: a store failure (the messages
// are imported in memory) or ErrServerClosed.
func (s *Server) Import(h *Handover, mark InboxMark) (ok, late bool, err error) {
	if s.closing.Load() || !s.runOnce.Load() {
		return false, false, ErrServerClosed
	}
	s.inboxMu.Lock()
	defer s.inboxMu.Unlock()
	if err := s.loadMarksLocked(); err != nil {
		return false, false, err
	}
	if mark.Name != "" && mark.Next <= s.marks[mark.Name] {
		return true, false, nil // imported before
	}
	s.mu.RLock()
	ss := s.sessions[h.ClientID]
	s.mu.RUnlock()
	if ss == nil {
		return false, false, nil
	}
	ss.mu.Lock()
	if ss.epoch != h.Epoch || ss.moved || ss.ended {
		ss.mu.Unlock()
		return false, false, nil
	}
	if mark.Name != "" {
		s.marks[mark.Name] = mark.Next
	}
	late = !ss.awaiting
	persist := ss.expiry > 0 && s.store != nil
	var writes []*storeWrite
	front := make([]*outMsg, 0, len(h.Held))
	for _, hm := range h.Held {
		om := &outMsg{m: hm.Msg, qos: hm.QoS, retain: hm.Retain, subIDs: hm.SubIDs, pid: hm.PacketID, state: hm.State}
		if ss.importSeq < holdSeqBase-1 {
			ss.importSeq++
			om.seq = ss.importSeq
		} else {
			ss.seq++
			om.seq = ss.seq
		}
		if om.qos > 0 && om.state != store.StateQueued && om.pid != 0 && ss.inflight[om.pid] == nil {
			if ss.inflight == nil {
				ss.inflight = map[uint16]*outMsg{}
			}
			ss.inflight[om.pid] = om
		} else {
			// Queued, or its packet id is taken here meanwhile (a late
			// handover): sent as a new delivery.
			om.pid, om.state = 0, store.StateQueued
			front = append(front, om)
			ss.queueBytes += msgSize(om.m)
		}
		if persist && om.qos > 0 {
			om.inStore, om.putPending = true, true
			writes = append(writes, &storeWrite{seq: om.seq, m: om.stored(), om: om})
		}
	}
	ss.queue = append(front, ss.queue...)
	if c := ss.conn; c != nil {
		c.ring.restoreQoS2(h.InboundQoS2)
	} else {
		for _, id := range h.InboundQoS2 {
			if !slices.Contains(ss.inQoS2, id) {
				ss.inQoS2 = append(ss.inQoS2, id)
			}
		}
	}
	ss.releaseHoldLocked()
	var expired []*outMsg
	if late && ss.conn != nil && ss.conn.connected.Load() {
		expired = ss.resumeLocked(s) // DUP redelivery of the unacked window, then the queue
	}
	ss.mu.Unlock()

	if len(writes) > 0 {
		var b store.Batch
		for _, w := range writes {
			b.PutMessage(ss.id, w.seq, w.m)
		}
		if mark.Name != "" {
			b.PutMark(mark.Name, mark.Next)
		}
		err = s.store.Apply(&b)
		for _, w := range writes {
			ss.mu.Lock()
			w.om.putPending = false
			del := w.om.finished
			ss.mu.Unlock()
			if del && err == nil {
				if derr := s.store.DeleteMessage(ss.id, w.seq); derr != nil {
					s.log.Error("mqtt: delete message", zap.String("client", ss.id), zap.Error(derr))
				}
			}
		}
	}
	s.forget(ss, expired)
	if errors.Is(err, store.ErrClosed) {
		return false, false, ErrServerClosed // stopping: read again at the restart
	}
	if err != nil {
		return true, late, fmt.Errorf("import handover in store: %w", err)
	}
	return true, late, nil
}

// releaseHoldLocked ends the session's hold for a handover (ss.mu held).
func (ss *session) releaseHoldLocked() {
	if ss.awaiting {
		ss.awaiting = false
		close(ss.handed)
	}
}

// awaitHandover holds a CONNECT whose claim took the session from another
// live replica until that replica's handover is imported, at most
// cl.Hold, so that the CONNACK finds the session whole: its queue in
// order, its inflight window, its inbound QoS 2 ids. After the timeout the
// session goes on with what it has (cluster/README.md, "Handover"). It
// reports whether a later claim took the session meanwhile.
func (s *Server) awaitHandover(c *conn, ss *session, cl ClaimResult) (moved bool) {
	ss.mu.Lock()
	ch, waiting := ss.handed, ss.awaiting
	ss.mu.Unlock()
	if waiting {
		t := time.NewTimer(cl.Hold)
		select {
		case <-ch:
		case <-s.quit:
		case <-t.C:
		}
		t.Stop()
	}
	ss.mu.Lock()
	timedOut := ss.awaiting
	ss.releaseHoldLocked()
	moved = ss.moved || ss.ended
	ss.mu.Unlock()
	if timedOut {
		s.logClient(zap.WarnLevel, c, "mqtt: cluster: the previous owner's handover did not arrive in time; the session goes on without it (what it held is delivered when it comes)",
			zap.String("client", ss.id), zap.Duration("waited", cl.Hold))
		if cl.HoldTimedOut != nil {
			cl.HoldTimedOut()
		}
	}
	return moved
}

// RestoredEpoch is the epoch under which a session restored from the
// store, and handed over by MoveRestored, is taken (TakeHeld): no claim
// of this run holds it.
const RestoredEpoch int64 = -1

// Restored lists the sessions restored from the store at start that no
// claim of this run has taken: an earlier run of this replica owned them,
// and the log may name another owner now (the device reconnected there
// while this replica was down).
func (s *Server) Restored() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for id, ss := range s.sessions {
		ss.mu.Lock()
		if ss.restored && !ss.claimed && !ss.moved && !ss.ended {
			ids = append(ids, id)
		}
		ss.mu.Unlock()
	}
	return ids
}

// MoveRestored is MoveSession for a session restored from the store that
// a claim took to another replica while this replica was down (or whose
// owner by the log was an earlier run of this replica): what it holds
// goes to the new owner, a late handover there (cluster/README.md,
// "Handover"), instead of being dropped. It moves the session under
// RestoredEpoch, for TakeHeld; switchRoutes as for MoveSession. It
// reports whether this replica held such a session. It does not block.
func (s *Server) MoveRestored(clientID string, switchRoutes func()) bool {
	s.viewMu.Lock()
	defer s.viewMu.Unlock()
	if switchRoutes != nil {
		switchRoutes()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[clientID]
	if ss == nil {
		return false
	}
	ss.mu.Lock()
	ok := ss.restored && !ss.claimed && !ss.moved && !ss.ended && ss.conn == nil
	if ok {
		ss.moved, ss.handing, ss.epoch = true, true, RestoredEpoch
	}
	ss.mu.Unlock()
	if ok {
		if s.handing == nil {
			s.handing = map[string]*session{}
		}
		s.handing[clientID] = ss
	}
	return ok
}
