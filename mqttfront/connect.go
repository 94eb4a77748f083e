package mqttfront

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// authTimeout bounds one Authenticate call.
const authTimeout = 10 * time.Second

// backoffDelay holds the answer to a login refused by the back-off (capped
// by connect_timeout): an attacker looping on one socket per attempt then
// makes one attempt per second and connection instead of thousands, which
// would cost the CPU that other logins need.
const backoffDelay = time.Second

// handleConnect authenticates, attaches the session and answers CONNACK.
func (c *conn) handleConnect(p *packets.Packet) error {
	s := c.s
	cp := &p.Connect
	c.version = cp.ProtocolVersion
	v5 := c.version == packets.V5
	refuse := func(v3, v5c packets.ReasonCode, r DisconnectReason, msg string) error {
		code := v3
		if v5 {
			code = v5c
		}
		c.send(&packets.Packet{Type: packets.CONNACK, ReasonCode: code})
		s.stats.connects[connectResult(code, v5)].Add(1)
		return closeErr(r, 0, msg)
	}
	if v5 && p.Properties.AuthMethod != "" {
		// No enhanced authentication methods are supported. [MQTT-4.12.0-1]
		return refuse(packets.V3NotAuthorized, packets.BadAuthenticationMethod, ReasonAuthFailed, "authentication method not supported")
	}
	clientID := cp.ClientID
	assigned := ""
	if clientID == "" {
		if !v5 && (!cp.CleanStart || c.version == packets.V31) {
			// [MQTT-3.1.3-8] an empty id needs Clean Session = 1.
			return refuse(packets.V3IdentifierRejected, packets.ClientIdentifierNotValid, ReasonClientIDRejected, "empty client id without clean session")
		}
		var b [12]byte
		_, _ = rand.Read(b[:])
		clientID = "auto-" + hex.EncodeToString(b[:]) // [MQTT-3.1.3-6]
		if v5 {
			assigned = clientID // [MQTT-3.2.2-16]
		}
	}
	c.clientID = clientID

	// Authentication.
	creds := auth.Credentials{
		ClientID:    clientID,
		Username:    cp.Username,
		UsernameSet: cp.UsernameFlag,
		Password:    cp.Password,
		PasswordSet: cp.PasswordFlag,
		RemoteAddr:  c.nc.RemoteAddr(),
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		creds.PeerCertificates = tc.ConnectionState().PeerCertificates
	}
	creds.Gate = s.backoff.Gate(creds.RemoteAddr)
	ctx, cancel := context.WithTimeout(context.Background(), authTimeout)
	id, err := s.authz.Load().a.Authenticate(ctx, creds)
	cancel()
	if errors.Is(err, auth.ErrBackoff) {
		// Counted; logged once per address and block, not per client id
		// (a flood brings a fresh id with each attempt).
		var be *auth.BackoffError
		if errors.As(err, &be) && be.First {
			s.log.Warn("mqtt: too many failed logins from an address; its logins are refused without a password check",
				zap.Stringer("address", be.Addr), zap.Time("until", be.Until), zap.String("listener", c.listener),
				zap.Int("max_failures", s.cfg.Auth.FailureBackoff.MaxFailures), zap.Stringer("reason", ReasonAuthBackoff))
		}
		t := time.NewTimer(min(backoffDelay, s.cfg.ConnectTimeout))
		select {
		case <-t.C:
		case <-s.quit:
			t.Stop()
		}
		return refuse(packets.V3NotAuthorized, packets.ConnectionRateExceeded, ReasonAuthBackoff, err.Error())
	}
	if err != nil {
		s.logClient(zap.InfoLevel, c, "mqtt: connect refused", zap.String("client", clientID), zap.String("listener", c.listener),
			zap.String("username", cp.Username), zap.String("remote", c.nc.RemoteAddr().String()), zap.Error(err))
		switch {
		case errors.Is(err, auth.ErrBadCredentials):
			return refuse(packets.V3BadUsernameOrPassword, packets.BadUserNameOrPassword, ReasonAuthFailed, err.Error())
		case errors.Is(err, auth.ErrNotAuthorized):
			return refuse(packets.V3NotAuthorized, packets.NotAuthorized, ReasonNotAuthorized, err.Error())
		default:
			return refuse(packets.V3ServerUnavailable, packets.ServerUnavailable, ReasonAuthFailed, err.Error())
		}
	}
	c.username = id.Username

	// Keepalive. [MQTT-3.1.2-21] [MQTT-3.2.2-21]
	ka := uint32(cp.KeepAlive)
	var serverKA uint16
	kaSet := false
	if maxKA := uint32(s.cfg.MaxKeepAlive); !v5 && ka > maxKA {
		// v3 cannot be told a keepalive: refuse, as Mosquitto does.
		return refuse(packets.V3IdentifierRejected, packets.ClientIdentifierNotValid, ReasonProtocolError,
			fmt.Sprintf("keepalive %d s above mqtt.max_keepalive %d s", ka, maxKA))
	} else if ka > maxKA || (ka == 0 && maxKA < 65535 && v5) {
		ka = maxKA
		serverKA, kaSet = uint16(maxKA), v5
	}
	c.keepAlive = time.Duration(ka) * time.Second

	// Client limits (v5).
	window := s.cfg.MaxInflight
	c.problemInfo = true
	var expiry uint32
	if v5 {
		pr := &p.Properties
		if pr.ReceiveMaximum > 0 {
			window = min(window, int(pr.ReceiveMaximum))
		}
		c.maxOut = pr.MaximumPacketSize
		c.aliasMaxOut = pr.TopicAliasMaximum
		c.problemInfo = !pr.RequestProblemInfoSet || pr.RequestProblemInfo == 1
		expiry = pr.SessionExpiry
	} else if !cp.CleanStart {
		expiry = neverExpire
	}
	expiry = s.capExpiry(expiry)
	if s.cfg.MaxPublishRate > 0 || s.cfg.MaxPublishBytesRate > 0 {
		c.limiter = newRateLimiter(s.cfg.MaxPublishRate, s.cfg.MaxPublishBytesRate)
	}

	var will *Message
	var willDelay uint32
	if cp.WillFlag {
		// The will outlives the CONNECT: its byte slices are copied so that
		// they do not keep the whole packet alive (strings of a CONNECT are
		// copies already, see packets.Read).
		will = &Message{Topic: cp.WillTopic, Payload: bytes.Clone(cp.WillPayload), QoS: cp.WillQoS, Retain: cp.WillRetain,
			ClientID: clientID, Username: c.username}
		if v5 {
			will.Properties = propsFrom(&cp.WillProperties)
			will.Properties.CorrelationData = bytes.Clone(will.Properties.CorrelationData)
			willDelay = cp.WillProperties.WillDelay
		}
		if err := s.checkTopic(cp.WillTopic, false); err != nil {
			// [MQTT-3.1.3-10] [MQTT-4.7.1-1] the will topic is a topic name.
			if !v5 {
				// 3.1.1 has no CONNACK code for it: a protocol violation
				// closes the connection [MQTT-4.8.0-1].
				return closeErr(ReasonTopicInvalid, 0, "invalid will topic: "+err.Error())
			}
			return refuse(packets.V3IdentifierRejected, packets.TopicNameInvalid, ReasonTopicInvalid, "invalid will topic")
		}
	}

	ss, present, err := s.attach(c, cp.CleanStart, expiry, window, will, willDelay)
	if errors.Is(err, errMaxSessions) {
		s.limitHit(LimitSessions, zap.String("client", clientID), zap.String("listener", c.listener),
			zap.String("username", c.username), zap.String("remote", c.nc.RemoteAddr().String()))
		return refuse(packets.V3ServerUnavailable, packets.QuotaExceeded, ReasonMaxSessions, err.Error())
	}
	var oe *ownerError
	if errors.As(err, &oe) {
		s.logClient(zap.WarnLevel, c, "mqtt: connect refused: the client id's session belongs to another user",
			zap.String("client", clientID), zap.String("listener", c.listener), zap.String("username", c.username),
			zap.String("owner", oe.owner), zap.String("remote", c.nc.RemoteAddr().String()),
			zap.Stringer("reason", ReasonSessionOwner))
		return refuse(packets.V3IdentifierRejected, packets.ClientIdentifierNotValid, ReasonSessionOwner, err.Error())
	}
	if err != nil {
		return refuse(packets.V3ServerUnavailable, packets.ServerUnavailable, ReasonServerShutdown, err.Error())
	}
	c.sess = ss

	ack := &packets.Packet{Type: packets.CONNACK, SessionPresent: present} // [MQTT-3.2.2-2] [MQTT-3.2.2-3]
	if v5 {
		pr := &ack.Properties
		if s.cfg.ReceiveMaximum < 65535 {
			pr.ReceiveMaximum = uint16(s.cfg.ReceiveMaximum)
		}
		pr.MaximumPacketSize = uint32(s.cfg.MaxPacketSize)
		pr.TopicAliasMaximum = uint16(s.cfg.TopicAliasMaximum)
		pr.AssignedClientID = assigned
		pr.ServerKeepAlive, pr.ServerKeepAliveSet = serverKA, kaSet
		pr.SubIDAvailable, pr.SubIDAvailableSet = 1, true
		pr.SharedSubAvailable, pr.SharedSubAvailableSet = 1, true
		pr.WildcardSubAvailable, pr.WildcardSubAvailableSet = 1, true
		if p.Properties.SessionExpirySet && expiry != p.Properties.SessionExpiry {
			pr.SessionExpiry, pr.SessionExpirySet = expiry, true
		}
	}
	s.stats.connects[ConnectSuccess].Add(1)
	ss.mu.Lock()
	c.connected.Store(true)
	c.send(ack)
	expired := ss.resumeLocked(s)
	ss.mu.Unlock()
	s.forget(ss, expired)
	s.persistSession(ss)
	return nil
}

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
	ss.mu.Unlock()
	if c.graceful || reason == ReasonServerShutdown {
		will = nil // [MQTT-3.1.2-10] a normal DISCONNECT discards the will
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

// publishWill publishes a will: to the Sink (it is a publish from that
// client) and to local subscribers.
func (s *Server) publishWill(m *Message) {
	if !s.allow(auth.ActionPublish, m.Username, m.ClientID, m.Topic) || isSys(m.Topic) {
		s.stats.drop(DropNotAuthorized)
		s.log.Info("mqtt: will not authorized", zap.String("client", m.ClientID), zap.String("topic", m.Topic))
		return
	}
	m.ReceivedAt = timeNow()
	if m.Retain {
		_ = s.retain(m) // beyond the limits: still published, not retained (counted, logged)
	}
	_ = s.route(m, m.ClientID)
	var done func(error)
	if m.QoS > 0 {
		log := s.log
		done = func(err error) {
			if err != nil {
				log.Warn("mqtt: sink refused will", zap.String("client", m.ClientID), zap.String("topic", m.Topic), zap.Error(err))
			}
		}
	}
	s.sink.Submit(m, done)
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
		}
	}
	for _, ss := range ends {
		s.endSession(ss)
	}
}

// handleOutboundAck handles PUBACK, PUBREC, PUBCOMP from the client.
func (c *conn) handleOutboundAck(p *packets.Packet) error {
	done := c.sess.ack(c.s, p)
	c.s.forget(c.sess, done)
	return nil
}

// completeOutbound finishes a flow whose PUBLISH was dropped as too large
// for the client [MQTT-3.1.2-25].
func (s *Server) completeOutbound(c *conn, pid uint16) {
	done := c.sess.ack(s, &packets.Packet{Type: packets.PUBACK, PacketID: pid})
	if len(done) == 0 {
		done = c.sess.ack(s, &packets.Packet{Type: packets.PUBCOMP, PacketID: pid})
	}
	s.forget(c.sess, done)
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
