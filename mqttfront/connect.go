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
	if err := s.admit(c); err != nil {
		return refuse(refuseNotReady[0], refuseNotReady[1], ReasonClusterNotReady, err.Error())
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

	var claimed ClaimResult
	if s.claimer != nil {
		// Cluster mode: the session is claimed in the log, and the local
		// session prepared from the log's state, before attach.
		if claimed, err = s.claim(c, cp.CleanStart, expiry); err != nil {
			return c.claimRefused(err, refuse)
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
	if s.claimer != nil {
		ss.mu.Lock()
		ss.epoch, ss.claimed = claimed.Epoch, true
		ss.mu.Unlock()
		// What the previous owner held, before CONNACK (or its timeout).
		if claimed.Hold > 0 && s.awaitHandover(c, ss, claimed) {
			// Claimed again elsewhere meanwhile: a lost takeover.
			return c.claimRefused(fmt.Errorf("await handover: %w", ErrSessionMoved), refuse)
		}
		// The whole state under the new epoch, read back, before CONNACK.
		ctx, cancel := s.quitContext()
		err := s.clusterUpdate(ctx, ss)
		cancel()
		if err != nil {
			if errors.Is(err, ErrSessionMoved) && !errors.Is(err, ErrSessionReclaimed) {
				// Another replica claimed it before this CONNECT's
				// claim was attached (the cluster's Supersede came
				// while the session was not marked claimed yet).
				ss.mu.Lock()
				ss.moved = true
				ss.mu.Unlock()
			}
			// ErrSessionReclaimed: a newer CONNECT here claimed it; it
			// takes the session over from this one (attach), queue and
			// all, as on one node: nothing moved.
			return c.claimRefused(err, refuse)
		}
	}

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

// claimRefused answers a CONNECT whose cluster claim failed: another
// user's session (as attach's owner check), a race lost to a later CONNECT
// (no CONNACK: 0x8E is no CONNACK code, and the session is the other
// connection's), or Kafka unreachable (v5 0x88, v3 0x03).
func (c *conn) claimRefused(err error, refuse func(v3, v5c packets.ReasonCode, r DisconnectReason, msg string) error) error {
	s := c.s
	switch {
	case errors.Is(err, ErrSessionOwner):
		s.logClient(zap.WarnLevel, c, "mqtt: connect refused: the client id's session belongs to another user",
			zap.String("client", c.clientID), zap.String("listener", c.listener), zap.String("username", c.username),
			zap.String("remote", c.nc.RemoteAddr().String()), zap.Bool("cluster", true), zap.Stringer("reason", ReasonSessionOwner))
		return refuse(packets.V3IdentifierRejected, packets.ClientIdentifierNotValid, ReasonSessionOwner, err.Error())
	case errors.Is(err, ErrSessionMoved):
		s.logClient(zap.InfoLevel, c, "mqtt: connect lost to a later connect with the same client id",
			zap.String("client", c.clientID), zap.String("listener", c.listener), zap.String("username", c.username),
			zap.Stringer("reason", ReasonTakeover))
		return closeErr(ReasonTakeover, 0, err.Error())
	default:
		s.logClient(zap.WarnLevel, c, "mqtt: connect refused: cluster session claim failed",
			zap.String("client", c.clientID), zap.String("listener", c.listener), zap.Error(err),
			zap.Stringer("reason", ReasonClaimFailed))
		return refuse(packets.V3ServerUnavailable, packets.ServerUnavailable, ReasonClaimFailed, err.Error())
	}
}
