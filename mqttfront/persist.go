package mqttfront

import (
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// storeOptions maps mqtt.store to the store's options (whose zero values
// mean defaults, where the config's 0 means never or no minimum).
func storeOptions(c StoreConfig) store.Options {
	o := store.Options{CompactFreeRatio: c.CompactOnStartFreeRatio, CompactMinBytes: c.CompactOnStartMinBytes}
	if c.CompactOnStartFreeRatio == 0 {
		o.NoCompact = true
	}
	if c.CompactOnStartMinBytes == 0 {
		o.CompactMinBytes = -1
	}
	return o
}

// snapshotLocked returns the persisted form of a session, without its
// subscriptions (see storeSession). Called with ss.mu held.
func (s *Server) snapshotLocked(ss *session) *store.Session {
	st := &store.Session{
		ClientID:       ss.id,
		Version:        byte(ss.version),
		Username:       ss.username,
		ExpiryInterval: ss.expiry,
		DisconnectedAt: ss.disconnectedAt,
		InboundQoS2:    ss.inQoS2,
	}
	if ss.conn != nil {
		st.InboundQoS2 = ss.conn.ring.snapshotQoS2()
	}
	if ss.pendingWill != nil {
		st.Will = toStore(ss.pendingWill, ss.pendingWill.QoS, ss.pendingWill.Retain)
		st.WillAt = ss.willAt
	}
	return st
}

func toStoreSub(sub topics.Sub) store.Subscription {
	return store.Subscription{
		Filter: sub.Filter, QoS: sub.QoS, NoLocal: sub.NoLocal,
		RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, ID: sub.ID,
	}
}

// storeSession writes the session record st. The first write of a session
// (ss.stored false) also replaces its stored subscriptions with the
// index's, as a new session may follow a stale record of its client id;
// later writes leave the subscriptions to persistSubscribe and
// persistUnsubscribe, so their cost does not grow with the subscriptions.
// Called with ss.persistMu held.
func (s *Server) storeSession(ss *session, st *store.Session) error {
	if ss.stored {
		return s.store.PutSessionState(st)
	}
	for _, sub := range s.index.ClientSubs(ss.id) {
		st.Subscriptions = append(st.Subscriptions, toStoreSub(sub))
	}
	if err := s.store.PutSession(st); err != nil {
		return err
	}
	ss.stored = true
	return nil
}

// persistSession writes the session record (will, ids, expiry) if the
// session is persistent.
func (s *Server) persistSession(ss *session) {
	if s.store == nil {
		return
	}
	ss.persistMu.Lock()
	defer ss.persistMu.Unlock()
	ss.mu.Lock()
	if ss.expiry == 0 || ss.ended {
		ss.mu.Unlock()
		return
	}
	st := s.snapshotLocked(ss)
	ss.mu.Unlock()
	if err := s.storeSession(ss, st); err != nil {
		s.log.Error("mqtt: store session", zap.String("client", ss.id), zap.Error(err))
	}
}

// persistSubscribe writes the subscriptions a SUBSCRIBE added or replaced,
// and nothing else, if the session is persistent.
func (s *Server) persistSubscribe(ss *session, subs []topics.Sub) {
	if len(subs) == 0 {
		return
	}
	s.persistSubs(ss, func() error {
		put := make([]store.Subscription, len(subs))
		for i, sub := range subs {
			put[i] = toStoreSub(sub)
		}
		return s.store.PutSubscriptions(ss.id, put...)
	})
}

// persistUnsubscribe deletes the filters an UNSUBSCRIBE removed from the
// store if the session is persistent.
func (s *Server) persistUnsubscribe(ss *session, filters []string) {
	if len(filters) == 0 {
		return
	}
	s.persistSubs(ss, func() error { return s.store.DeleteSubscriptions(ss.id, filters...) })
}

// persistSubs runs write for a stored session, or writes the whole session
// (which includes the change) when it is not stored yet.
func (s *Server) persistSubs(ss *session, write func() error) {
	if s.store == nil {
		return
	}
	ss.persistMu.Lock()
	defer ss.persistMu.Unlock()
	ss.mu.Lock()
	if ss.expiry == 0 || ss.ended {
		ss.mu.Unlock()
		return
	}
	var st *store.Session
	if !ss.stored {
		st = s.snapshotLocked(ss)
	}
	ss.mu.Unlock()
	if st != nil {
		write = func() error { return s.storeSession(ss, st) }
	}
	if err := write(); err != nil {
		s.log.Error("mqtt: store subscriptions", zap.String("client", ss.id), zap.Error(err))
	}
}

// persistOffline writes the session and its inflight and queued messages
// when its connection ends.
func (s *Server) persistOffline(ss *session) {
	if s.store == nil {
		return
	}
	ss.persistMu.Lock()
	defer ss.persistMu.Unlock()
	ss.mu.Lock()
	if ss.expiry == 0 || ss.ended {
		ss.mu.Unlock()
		return
	}
	st := s.snapshotLocked(ss)
	type rec struct {
		seq uint64
		m   *store.Message
	}
	var recs []rec
	for _, om := range ss.inflight {
		om.inStore = true
		recs = append(recs, rec{om.seq, om.stored()})
	}
	for _, om := range ss.queue {
		if !om.inStore {
			om.inStore = true
			recs = append(recs, rec{om.seq, om.stored()})
		}
	}
	ss.mu.Unlock()
	if err := s.storeSession(ss, st); err != nil {
		s.log.Error("mqtt: store session", zap.String("client", ss.id), zap.Error(err))
		return
	}
	for _, r := range recs {
		if err := s.store.PutMessage(ss.id, r.seq, r.m); err != nil {
			s.log.Error("mqtt: store message", zap.String("client", ss.id), zap.Error(err))
			return
		}
	}
}

// persistAll writes every persistent session at shutdown.
func (s *Server) persistAll() {
	s.mu.RLock()
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.RUnlock()
	for _, ss := range all {
		s.persistOffline(ss)
	}
}

// restore loads sessions, their messages and retained messages from the
// store at start.
func (s *Server) restore() error {
	now := timeNow()
	ignored := 0
	err := s.store.Retained(func(sm *store.Message) error {
		switch {
		case s.retainedStore != nil:
			ignored++ // cluster mode: the shared store is the source
		case !sm.ExpiresAt.IsZero() && !now.Before(sm.ExpiresAt):
		default:
			s.putRetained(fromStore(sm))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if ignored > 0 {
		s.log.Warn("mqtt: retained messages in mqtt.db are not used in cluster mode (the cluster's retained topic is the source); publish them again to share them",
			zap.Int("retained", ignored))
	}
	var sessions []*store.Session
	if err := s.store.Sessions(func(st *store.Session) error {
		sessions = append(sessions, st)
		return nil
	}); err != nil {
		return err
	}
	var expired []string
	for _, st := range sessions {
		ss := newSession(st.ClientID)
		ss.stored = true // record and subscriptions as read
		ss.restored = true
		ss.version = packets.Version(st.Version)
		ss.username = st.Username
		ss.expiry = s.capExpiry(st.ExpiryInterval)
		ss.disconnectedAt = st.DisconnectedAt
		if ss.disconnectedAt.IsZero() {
			ss.disconnectedAt = now // it was online when the server stopped
		}
		ss.inQoS2 = st.InboundQoS2
		if st.Will != nil {
			ss.pendingWill, ss.willAt = fromStore(st.Will), st.WillAt
			ss.pendingWill.ClientID, ss.pendingWill.Username = st.ClientID, st.Username
		}
		if ss.expiredAt(now) {
			expired = append(expired, st.ClientID)
			if ss.pendingWill != nil {
				s.publishWillOnRestore(ss.pendingWill)
			}
			continue
		}
		for _, sub := range st.Subscriptions {
			s.index.Add(topics.Sub{ClientID: st.ClientID, Filter: sub.Filter, QoS: sub.QoS, NoLocal: sub.NoLocal,
				RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, ID: sub.ID})
		}
		err := s.store.Messages(st.ClientID, func(seq uint64, sm *store.Message) error {
			om := &outMsg{seq: seq, m: fromStore(sm), qos: sm.QoS, retain: sm.Retain, subIDs: sm.Props.SubscriptionIDs,
				pid: sm.PacketID, state: sm.State, inStore: true}
			ss.seq = max(ss.seq, seq)
			if sm.State == store.StateQueued || sm.PacketID == 0 {
				om.state = store.StateQueued
				ss.queue = append(ss.queue, om)
				ss.queueBytes += msgSize(om.m)
				return nil
			}
			if ss.inflight == nil {
				ss.inflight = map[uint16]*outMsg{}
			}
			ss.inflight[om.pid] = om
			return nil
		})
		if err != nil {
			return err
		}
		// Stats may already be read (the admin listener samples it), so
		// the maps are written under s.mu even during start-up.
		s.mu.Lock()
		s.sessions[ss.id] = ss
		if ss.pendingWill != nil {
			s.wills[ss.id] = ss
		}
		if ss.expiry != neverExpire {
			s.expiring[ss.id] = ss
		}
		s.mu.Unlock()
	}
	for _, id := range expired {
		if err := s.store.DeleteSession(id); err != nil {
			return err
		}
	}
	s.log.Info("mqtt: state restored", zap.Int("sessions", len(s.sessions)), zap.Int("retained", s.retained.Len()),
		zap.Int("subscriptions", s.index.Len()), zap.Duration("took", time.Since(now)))
	return nil
}

// forget deletes finished messages from the store. A message whose store
// record is still being written (the client acked faster than the write
// committed) is left to writeStored, which deletes it right after the
// write; so a finished delivery never leaves a stale record behind.
func (s *Server) forget(ss *session, oms []*outMsg) {
	if s.store == nil || len(oms) == 0 {
		return
	}
	ss.mu.Lock()
	now := oms[:0:0]
	for _, om := range oms {
		if !om.inStore {
			continue
		}
		if om.putPending {
			om.finished = true
			continue
		}
		now = append(now, om)
	}
	ss.mu.Unlock()
	for _, om := range now {
		if err := s.store.DeleteMessage(ss.id, om.seq); err != nil {
			s.log.Error("mqtt: delete message", zap.String("client", ss.id), zap.Error(err))
		}
	}
}

// writeStored writes the store record of a delivery to a persistent
// session, then deletes it again if the delivery finished meanwhile.
func (s *Server) writeStored(ss *session, w *storeWrite) error {
	err := s.store.PutMessage(ss.id, w.seq, w.m)
	ss.mu.Lock()
	w.om.putPending = false
	del := w.om.finished
	ss.mu.Unlock()
	if del && err == nil {
		if derr := s.store.DeleteMessage(ss.id, w.seq); derr != nil {
			s.log.Error("mqtt: delete message", zap.String("client", ss.id), zap.Error(derr))
		}
	}
	return err
}
