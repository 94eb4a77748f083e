package mqttfront

// The session lifecycle: a connection attaches to its client id's session
// (takeover, clean start, owner check) and detaches when it closes; an
// offline session ends when its expiry passes. Wills are in will.go, store
// bookkeeping in persist.go, CONNECT itself in connect.go.

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// capExpiry applies max_session_expiry.
func (s *Server) capExpiry(e uint32) uint32 {
	if s.cfg.MaxSessionExpiry > 0 {
		maxE := uint32(min(s.cfg.MaxSessionExpiry/time.Second, neverExpire-1))
		if e > maxE {
			return maxE
		}
	}
	return e
}

// ownerError refuses a CONNECT whose client id has a session owned by
// another identity (bind_client_id_to_user).
type ownerError struct{ owner string }

func (e *ownerError) Error() string { return "client id belongs to a session of another user" }

// attach binds c to the session of its client id, taking over a
// connected one [MQTT-3.1.4-3] and starting fresh on clean start
// [MQTT-3.1.2-4]. With bind_client_id_to_user a session (online or not,
// unless expired) whose owner is a user other than c's is left alone and
// an *ownerError returned. The owner is the session's user name: the
// identity that created it, since with the binding on nobody else can
// attach. "" (anonymous) owns nothing: any identity may resume such a
// session and a user who does becomes its owner.
func (s *Server) attach(c *conn, clean bool, expiry uint32, window int, will *Message, willDelay uint32) (*session, bool, error) {
	id := c.clientID
	for {
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			return nil, false, ErrServerClosed
		}
		ss := s.sessions[id]
		if ss != nil {
			ss.mu.Lock()
			old, owner := ss.conn, ss.username
			ss.mu.Unlock()
			if s.cfg.Auth.BindClientIDToUser && owner != "" && owner != c.username && (old != nil || !ss.expiredAt(timeNow())) {
				// Neither the session nor its connection is another
				// identity's to take (clean start would discard it).
				s.mu.Unlock()
				return nil, false, &ownerError{owner: owner}
			}
			if s.cfg.Auth.BindClientIDToUser && owner == "" && c.username != "" && !clean {
				s.log.Info("mqtt: user adopts a session created by an anonymous client",
					zap.String("client", id), zap.String("username", c.username), zap.String("listener", c.listener))
			}
			if old != nil {
				s.mu.Unlock()
				old.kick(ReasonTakeover, packets.SessionTakenOver)
				<-old.done
				continue
			}
		}
		var discard *session
		if ss != nil && (clean || ss.expiredAt(timeNow())) {
			discard, ss = ss, nil
		}
		present := ss != nil
		if discard != nil {
			s.removeSessionLocked(discard)
		}
		if ss == nil && discard == nil && s.cfg.MaxSessions > 0 && len(s.sessions) >= s.cfg.MaxSessions {
			// A new client id beyond max_sessions; a held one may always
			// come back (a clean start replaces its session).
			s.mu.Unlock()
			return nil, false, errMaxSessions
		}
		if ss == nil {
			ss = newSession(id)
			s.sessions[id] = ss
		}
		delete(s.wills, id) // a reconnect cancels a delayed will [MQTT-3.1.3-9]
		delete(s.expiring, id)
		ss.mu.Lock()
		ss.conn = c
		ss.online.Store(true)
		ss.version = c.version
		ss.username = c.username
		ss.recv = recvCache{} // decisions were for the previous connection's user
		ss.expiry = expiry
		ss.window = window
		ss.will, ss.willDelay = will, willDelay
		ss.pendingWill = nil
		ss.disconnectedAt = time.Time{}
		c.ring.restoreQoS2(ss.inQoS2)
		ss.inQoS2 = nil
		ss.mu.Unlock()
		s.mu.Unlock()
		if discard != nil {
			// The old session ends here: a will still delayed goes out now
			// [MQTT-3.1.3-9].
			discard.mu.Lock()
			w := discard.pendingWill
			discard.pendingWill = nil
			discard.mu.Unlock()
			if w != nil {
				s.publishWill(w)
			}
			if s.store != nil {
				if err := s.store.DeleteSession(id); err != nil {
					s.log.Error("mqtt: delete session", zap.String("client", id), zap.Error(err))
				}
			}
		}
		return ss, present, nil
	}
}

// expiredAt reports whether an offline session has expired.
func (ss *session) expiredAt(now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.conn == nil && ss.expiry != neverExpire && !ss.disconnectedAt.IsZero() &&
		!now.Before(ss.disconnectedAt.Add(secs(ss.expiry)))
}

// removeSessionLocked drops a session from the server (s.mu held).
func (s *Server) removeSessionLocked(ss *session) {
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
		s.index.RemoveClient(ss.id)
	}
	delete(s.wills, ss.id)
	delete(s.expiring, ss.id)
	ss.mu.Lock()
	ss.ended = true
	ss.mu.Unlock()
}

// detach unbinds a closed connection from its session: will, session end
// or offline persistence.
func (s *Server) detach(c *conn, reason DisconnectReason) {
	ss := c.sess
	ids := c.ring.snapshotQoS2()
	now := timeNow()
	ss.mu.Lock()
	if ss.conn != c {
		ss.mu.Unlock()
		return
	}
	ss.conn = nil
	ss.online.Store(false)
	ss.recv = recvCache{} // an offline session holds no cache until something is queued
	ss.disconnectedAt = now
	ss.inQoS2 = ids
	will, delay := ss.will, ss.willDelay
	ss.will = nil
	expiry := ss.expiry
	moved, movedClean, handing := ss.moved, ss.movedClean, ss.handing
	ss.mu.Unlock()
	if c.graceful || reason == ReasonServerShutdown {
		will = nil // [MQTT-3.1.2-10] a normal DISCONNECT discards the will
	}
	if moved {
		// Cluster mode: another replica claimed the session. As a takeover
		// on one node: the will goes out unless delayed into a session the
		// new connection resumed, which cancels it [MQTT-3.1.3-9].
		if will != nil && (delay == 0 || expiry == 0 || movedClean) {
			s.publishWill(will)
		}
		if !handing { // a handed over session waits for TakeHeld
			s.dropMoved(ss)
		}
		return
	}
	if will != nil && delay > 0 && expiry > 0 {
		// [MQTT-3.1.3-9] at the delay or at session end, whichever first.
		at := now.Add(secs(delay))
		if expiry != neverExpire {
			if end := now.Add(secs(expiry)); end.Before(at) {
				at = end
			}
		}
		ss.mu.Lock()
		ss.pendingWill, ss.willAt = will, at
		ss.mu.Unlock()
		s.mu.Lock()
		if s.sessions[ss.id] == ss {
			s.wills[ss.id] = ss
		}
		s.mu.Unlock()
		will = nil
	}
	if will != nil {
		s.publishWill(will)
	}
	if expiry == 0 {
		s.endSession(ss)
		return
	}
	if expiry != neverExpire {
		s.mu.Lock()
		if s.sessions[ss.id] == ss {
			s.expiring[ss.id] = ss
		}
		s.mu.Unlock()
	}
	s.persistOffline(ss)
	if err := s.clusterUpdate(context.Background(), ss); err != nil {
		s.log.Warn("mqtt: cluster: record offline session", zap.String("client", ss.id), zap.Error(err))
	}
}

// endSession ends a session: its pending will goes out, its
// subscriptions and stored state are removed.
func (s *Server) endSession(ss *session) {
	s.mu.Lock()
	s.removeSessionLocked(ss)
	s.mu.Unlock()
	ss.mu.Lock()
	will := ss.pendingWill
	ss.pendingWill = nil
	persisted := ss.expiry > 0
	ss.mu.Unlock()
	if will != nil {
		s.publishWill(will)
	}
	s.clusterEnd(ss)
	// After a write in flight (persistMu); stored also covers a session
	// stored earlier whose expiry a reconnect set to 0.
	ss.persistMu.Lock()
	if (persisted || ss.stored) && s.store != nil {
		if err := s.store.DeleteSession(ss.id); err != nil {
			s.log.Error("mqtt: delete session", zap.String("client", ss.id), zap.Error(err))
		}
		ss.stored = false
	}
	ss.persistMu.Unlock()
}

// expireWillsAndSessions publishes delayed wills that are due and ends
// sessions whose expiry passed.
func (s *Server) expireWillsAndSessions(now time.Time) {
	var wills, ends []*session
	s.mu.RLock()
	for _, ss := range s.wills {
		ss.mu.Lock()
		if ss.pendingWill != nil && !now.Before(ss.willAt) {
			wills = append(wills, ss)
		}
		ss.mu.Unlock()
	}
	for _, ss := range s.expiring {
		if ss.expiredAt(now) {
			ends = append(ends, ss)
		}
	}
	s.mu.RUnlock()
	for _, ss := range wills {
		s.mu.Lock()
		delete(s.wills, ss.id)
		s.mu.Unlock()
		ss.mu.Lock()
		w := ss.pendingWill
		ss.pendingWill = nil
		ss.mu.Unlock()
		if w != nil {
			s.publishWill(w)
			s.persistSession(ss)
			if err := s.clusterUpdate(context.Background(), ss); err != nil {
				s.log.Warn("mqtt: cluster: record fired will", zap.String("client", ss.id), zap.Error(err))
			}
		}
	}
	for _, ss := range ends {
		s.endSession(ss)
	}
}
