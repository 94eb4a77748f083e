package mqttfront

import (
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// snapshot returns the persisted form of a session. Called with ss.mu held.
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
	for _, sub := range s.index.ClientSubs(ss.id) {
		st.Subscriptions = append(st.Subscriptions, store.Subscription{
			Filter: sub.Filter, QoS: sub.QoS, NoLocal: sub.NoLocal,
			RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, ID: sub.ID,
		})
	}
	return st
}

// persistSession writes the session record (subscriptions, will, ids) if
// the session is persistent.
func (s *Server) persistSession(ss *session) {
	if s.store == nil {
		return
	}
	ss.mu.Lock()
	if ss.expiry == 0 || ss.ended {
		ss.mu.Unlock()
		return
	}
	st := s.snapshotLocked(ss)
	ss.mu.Unlock()
	if err := s.store.PutSession(st); err != nil {
		s.log.Error("mqtt: store session", zap.String("client", ss.id), zap.Error(err))
	}
}

// persistOffline writes the session and its inflight and queued messages
// when its connection ends.
func (s *Server) persistOffline(ss *session) {
	if s.store == nil {
		return
	}
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
	if err := s.store.PutSession(st); err != nil {
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
	err := s.store.Retained(func(sm *store.Message) error {
		if !sm.ExpiresAt.IsZero() && !now.Before(sm.ExpiresAt) {
			return nil
		}
		s.putRetained(fromStore(sm))
		return nil
	})
	if err != nil {
		return err
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

// publishWillOnRestore: a will whose session expired while the server was
// down goes to the Sink and retained store only (no one is connected yet).
func (s *Server) publishWillOnRestore(m *Message) {
	m.ReceivedAt = timeNow()
	if m.Retain {
		_ = s.retain(m) // beyond the limits: not retained, counted, logged
	}
	var done func(error)
	if m.QoS > 0 {
		done = func(error) {}
	}
	s.sink.Submit(m, done)
}
