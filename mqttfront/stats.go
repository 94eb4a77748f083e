package mqttfront

import (
	"sync/atomic"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// DisconnectReason says why a connection ended. Every disconnect is counted
// and logged once with it.
type DisconnectReason int

// Disconnect reasons.
const (
	ReasonNone DisconnectReason = iota
	ReasonClientDisconnect
	ReasonKeepAliveTimeout
	ReasonProtocolError
	ReasonMalformedPacket
	ReasonTakeover
	ReasonSlowConsumer
	ReasonServerShutdown
	ReasonAuthFailed
	ReasonNotAuthorized
	ReasonPacketTooLarge
	ReasonReceiveMaximumExceeded
	ReasonConnectTimeout
	ReasonNetworkError
	ReasonAdminKick
	ReasonSinkError
	ReasonTopicAliasInvalid
	ReasonUnsupportedVersion
	ReasonClientIDRejected
	ReasonPayloadFormatInvalid
	ReasonTopicInvalid
	ReasonMaxConnections
	ReasonOriginRejected // WebSocket handshake from a browser Origin not allowed
	ReasonMaxSessions
	ReasonReadTimeout  // a started packet not complete within read_timeout
	ReasonSessionOwner // the client id's session belongs to another identity (bind_client_id_to_user)
	ReasonAuthBackoff  // the address failed too many password checks lately (auth.failure_backoff)
	ReasonClaimFailed  // cluster mode: the session's claim or state could not be written to Kafka
	// ReasonClusterNotReady: CONNECT refused by the cluster's admission
	// check (the replica is catching up with the shared state).
	ReasonClusterNotReady
	numDisconnectReasons
)

var disconnectNames = [...]string{
	"none", "client_disconnect", "keepalive_timeout", "protocol_error", "malformed_packet",
	"takeover", "slow_consumer", "server_shutdown", "auth_failed", "not_authorized",
	"packet_too_large", "receive_maximum_exceeded", "connect_timeout", "network_error",
	"admin_kick", "sink_error", "topic_alias_invalid", "unsupported_version",
	"client_id_rejected", "payload_format_invalid", "topic_invalid", "max_connections",
	"origin_rejected",
	"max_sessions",
	"read_timeout",
	"session_owner_mismatch", "auth_backoff", "claim_failed",
	"cluster_not_ready",
}

func (r DisconnectReason) String() string {
	if r >= 0 && int(r) < len(disconnectNames) {
		return disconnectNames[r]
	}
	return "unknown"
}

// ConnectResult is the outcome of a CONNECT, the same for every version.
type ConnectResult int

// Connect results.
const (
	ConnectSuccess ConnectResult = iota
	ConnectUnsupportedVersion
	ConnectClientIDRejected
	ConnectServerUnavailable
	ConnectBadCredentials
	ConnectNotAuthorized
	ConnectBadAuthMethod
	ConnectOther
	ConnectQuotaExceeded
	ConnectRateExceeded // v5 0x9F
	numConnectResults
)

var connectNames = [...]string{"success", "unsupported_version", "client_id_rejected",
	"server_unavailable", "bad_credentials", "not_authorized", "bad_auth_method", "other",
	"quota_exceeded", "connection_rate_exceeded"}

func (r ConnectResult) String() string {
	if r >= 0 && int(r) < len(connectNames) {
		return connectNames[r]
	}
	return "unknown"
}

// connectResult classifies a CONNACK code of either version.
func connectResult(code packets.ReasonCode, v5 bool) ConnectResult {
	if !v5 {
		if code <= packets.V3NotAuthorized {
			return ConnectResult(code)
		}
		return ConnectOther
	}
	switch code {
	case packets.Success:
		return ConnectSuccess
	case packets.UnsupportedProtocolVersion:
		return ConnectUnsupportedVersion
	case packets.ClientIdentifierNotValid:
		return ConnectClientIDRejected
	case packets.ServerUnavailable:
		return ConnectServerUnavailable
	case packets.BadUserNameOrPassword:
		return ConnectBadCredentials
	case packets.NotAuthorized:
		return ConnectNotAuthorized
	case packets.BadAuthenticationMethod:
		return ConnectBadAuthMethod
	case packets.QuotaExceeded:
		return ConnectQuotaExceeded
	case packets.ConnectionRateExceeded:
		return ConnectRateExceeded
	}
	return ConnectOther
}

// DropReason says why a message was not delivered or not accepted.
type DropReason int

// Drop reasons.
const (
	DropQueueFull     DropReason = iota // session queue at max_queued_messages
	DropSlowConsumer                    // QoS 0 dropped: write queue over its bounds
	DropNotAuthorized                   // PUBLISH denied by ACL
	DropSysTopic                        // client publish to $SYS [MQTT-4.7.2-1]
	DropExpired                         // v5 message expiry passed before delivery
	DropTooLarge                        // larger than the client's Maximum Packet Size [MQTT-3.1.2-25]
	DropRetainedFull                    // retained topic beyond max_retained
	DropOfflineQoS0                     // QoS 0 to an offline session
	DropRetainedQuota                   // retained message beyond max_retained_bytes
	// DropDeliveryNotAuthorized: the ACL does not let the subscriber
	// receive this topic name (a deny inside a granted wildcard, or rules
	// changed by a reload since the message was queued).
	DropDeliveryNotAuthorized
	DropNoSubscribers // no matching subscription (informational)
	// DropSessionMoved: a message queued for a session that another
	// replica claimed; the handover is not implemented yet
	// (cluster_sessions.go).
	DropSessionMoved
	numDropReasons
)

var dropNames = [...]string{
	"queue_full", "slow_consumer", "not_authorized", "sys_topic", "expired",
	"too_large", "retained_full", "offline_qos0", "retained_quota", "delivery_not_authorized",
	"no_subscribers", "session_moved",
}

func (r DropReason) String() string {
	if r >= 0 && int(r) < len(dropNames) {
		return dropNames[r]
	}
	return "unknown"
}

// Stats is a snapshot of the server's counters. Maps are keyed by the
// String() of packet types, reasons and results.
type Stats struct {
	ConnectionsCurrent int64
	ConnectionsTotal   uint64
	Connects           map[string]uint64 // by ConnectResult ("success", "bad_credentials", ...)
	PacketsIn          map[string]uint64 // by packet type
	PacketsOut         map[string]uint64
	BytesIn            uint64
	BytesOut           uint64
	MessagesIn         [3]uint64         // inbound PUBLISH by QoS
	MessagesOut        [3]uint64         // outbound PUBLISH by QoS
	Drops              map[string]uint64 // by DropReason
	Disconnects        map[string]uint64 // by DisconnectReason
	Limits             map[string]uint64 // times a limit refused something, by config key ("max_sessions", ...)
	Sessions           int
	SessionsOnline     int
	Subscriptions      int
	Retained           int
	RetainedBytes      int64 // topic, payload and properties of the retained messages
	// StoreFileBytes is the size of mqtt.db (0 without data_dir);
	// StoreReclaimedBytes what the compaction at start took off it.
	StoreFileBytes      int64
	StoreReclaimedBytes int64
	Auth                AuthStats
}

// AuthStats is the load and back-off of password checks.
type AuthStats struct {
	HashRunning      int    // bcrypt checks running now
	HashWaiting      int    // bcrypt checks waiting for a slot (auth.bcrypt_concurrency)
	BackoffBlocks    uint64 // times an address was blocked (auth.failure_backoff)
	BackoffRefused   uint64 // logins refused while their address was blocked
	BackoffAddresses int    // addresses in the failure table now
}

type counters struct {
	connsCurrent atomic.Int64
	connsTotal   atomic.Uint64
	connects     [numConnectResults]atomic.Uint64
	pktIn        [16]atomic.Uint64
	pktOut       [16]atomic.Uint64
	bytesIn      atomic.Uint64
	bytesOut     atomic.Uint64
	msgIn        [3]atomic.Uint64
	msgOut       [3]atomic.Uint64
	drops        [numDropReasons]atomic.Uint64
	disconnects  [numDisconnectReasons]atomic.Uint64
	limits       [numLimits]atomic.Uint64
}

func (c *counters) drop(r DropReason) { c.drops[r].Add(1) }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	st := Stats{
		ConnectionsCurrent: c.connsCurrent.Load(),
		ConnectionsTotal:   c.connsTotal.Load(),
		Connects:           map[string]uint64{},
		PacketsIn:          map[string]uint64{},
		PacketsOut:         map[string]uint64{},
		BytesIn:            c.bytesIn.Load(),
		BytesOut:           c.bytesOut.Load(),
		Drops:              map[string]uint64{},
		Disconnects:        map[string]uint64{},
		Subscriptions:      s.index.Len(),
		Retained:           s.retained.Len(),
		RetainedBytes:      s.retainedSize(),
		Limits:             map[string]uint64{},
	}
	for i := range c.connects {
		if v := c.connects[i].Load(); v > 0 {
			st.Connects[ConnectResult(i).String()] = v
		}
	}
	for i := range c.pktIn {
		if v := c.pktIn[i].Load(); v > 0 {
			st.PacketsIn[packets.Type(i).String()] = v
		}
		if v := c.pktOut[i].Load(); v > 0 {
			st.PacketsOut[packets.Type(i).String()] = v
		}
	}
	for i := range 3 {
		st.MessagesIn[i] = c.msgIn[i].Load()
		st.MessagesOut[i] = c.msgOut[i].Load()
	}
	for i := range c.drops {
		if v := c.drops[i].Load(); v > 0 {
			st.Drops[DropReason(i).String()] = v
		}
	}
	for i := range c.limits {
		if v := c.limits[i].Load(); v > 0 {
			st.Limits[Limit(i).String()] = v
		}
	}
	for i := range c.disconnects {
		if v := c.disconnects[i].Load(); v > 0 {
			st.Disconnects[DisconnectReason(i).String()] = v
		}
	}
	if l, ok := s.authz.Load().a.(interface{ Load() auth.HashLoad }); ok {
		hl := l.Load()
		st.Auth.HashRunning, st.Auth.HashWaiting = hl.Running, hl.Waiting
	}
	bs := s.backoff.Stats()
	st.Auth.BackoffBlocks, st.Auth.BackoffRefused, st.Auth.BackoffAddresses = bs.Blocks, bs.Refused, bs.Addresses
	s.mu.RLock()
	db := s.store // Run sets it under s.mu
	st.Sessions = len(s.sessions)
	for _, ss := range s.sessions {
		if ss.online.Load() {
			st.SessionsOnline++
		}
	}
	s.mu.RUnlock()
	if db != nil {
		st.StoreFileBytes = db.Stats().FileBytes
		c := db.Compaction()
		st.StoreReclaimedBytes = c.BeforeBytes - c.AfterBytes
	}
	return st
}
