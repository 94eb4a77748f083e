// Package cluster makes N bridge replicas behave as one MQTT broker, with
// Kafka as their shared log, memory and bus: session ownership decided by log
// order, retained messages and sessions kept in compacted topics, copies for
// other replicas routed through per-replica inbox topics. It is a wiring
// layer beside bridge/: it may import mqttfront, kafka and mapping, which
// never import it. See README.md for the design.
package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Config is the cluster section of the bridge configuration (cluster.*).
// With Enabled false (the default) nothing in this package is built or run.
type Config struct {
	// Enabled turns cluster mode on. Default false: one replica, exactly as
	// before. Needs mqtt.data_dir (the cache and the inbox offsets live
	// there). EMQX: cluster.discovery_strategy; HiveMQ: cluster.enabled.
	Enabled bool `koanf:"enabled"`
	// ReplicaID names this replica in the cluster: in session owners, the
	// inbox topic name and heartbeats. Default "" = the hostname, which a
	// Kubernetes StatefulSet keeps stable per pod. Letters, digits, '.', '_'
	// and '-', at most 64 bytes. Two live replicas with one id are refused.
	// EMQX: node.name.
	ReplicaID string `koanf:"replica_id"`
	// TopicPrefix starts the name of every internal topic
	// (<prefix>sessions, <prefix>retained, <prefix>replicas,
	// <prefix>inbox.<replica id>). Default "mqtt-bridge.". Same characters
	// as a Kafka topic name, at most 100 bytes.
	TopicPrefix string `koanf:"topic_prefix"`
	// Partitions of the sessions and retained topics when the bridge
	// creates them. Default 16. Fixed for the cluster's life: a change of an
	// existing topic's count is refused at start (keys would move and epochs
	// go backwards). Kafka: num.partitions.
	Partitions int `koanf:"partitions"`
	// InboxPartitions of each replica's inbox topic. Default 1. Copies are
	// keyed by the sending replica, so more partitions only help with many
	// replicas.
	InboxPartitions int `koanf:"inbox_partitions"`
	// ReplicationFactor of the internal topics the bridge creates. Default
	// -1: the broker's default.replication.factor. Use 3 in production.
	// Kafka: replication.factor.
	ReplicationFactor int `koanf:"replication_factor"`
	// MinCompactionLag keeps every record of the compacted topics
	// uncompacted at least this long, the window in which an owner repairs a
	// record written by a replica that had not yet seen a newer claim.
	// Default 1h. Kafka topic config: min.compaction.lag.ms.
	MinCompactionLag time.Duration `koanf:"min_compaction_lag"`
	// InboxRetention is how long copies stay in an inbox topic: the longest
	// a replica may be down and still find what was routed to it. Default
	// 168h (7 days). Kafka topic config: retention.ms.
	InboxRetention time.Duration `koanf:"inbox_retention"`
	// HeartbeatInterval between a replica's heartbeats. Default 2s.
	HeartbeatInterval time.Duration `koanf:"heartbeat_interval"`
	// ReplicaTimeout: a replica whose last heartbeat is older than this
	// (in the broker's clock) is dead. Default 10s; at least 3 heartbeat
	// intervals. HiveMQ: cluster failure-detection heartbeat timeout.
	ReplicaTimeout time.Duration `koanf:"replica_timeout"`
	// ClaimTimeout bounds a session claim (produce + read back) at CONNECT;
	// beyond it the CONNECT is refused (v5 0x88, v3 0x03). Default 10s.
	ClaimTimeout time.Duration `koanf:"claim_timeout"`
	// CopyTimeout bounds how long a QoS 1/2 publish with subscribers at
	// other replicas waits for its copies to be acknowledged by Kafka;
	// beyond it the publish fails like a copy Kafka refused (v5 PUBACK /
	// PUBREC 0x80, v3 connection closed: the device sends it again; the
	// copy may still arrive, a duplicate). It also bounds a downlink
	// record's or an admin publish's copies. Default 10s. Kafka producer:
	// delivery.timeout.ms.
	CopyTimeout time.Duration `koanf:"copy_timeout"`
	// MaxSessionRecordBytes bounds one session's state record in the
	// sessions topic (its subscriptions, will and QoS 2 ids). A SUBSCRIBE
	// that would exceed it is refused whole: SUBACK 0x97 (v5, Quota
	// exceeded) / 0x80 (v3). Default 900 KiB; keep it below the topic's
	// max.message.bytes (1 MiB by default) and the producer's
	// max.request.size. No equivalent elsewhere (EMQX bounds the count of
	// subscriptions only).
	MaxSessionRecordBytes int `koanf:"max_session_record_bytes"`
	// HandoverTimeout bounds the handover of what a session held (queued
	// and inflight messages, inbound QoS 2 ids) when a device reconnects
	// to another replica: the CONNACK waits at most this long for the old
	// owner's handover (not at all when the old owner's heartbeat is
	// stale), and the old owner waits at most half of it for the other
	// replicas' fences (README.md, "Handover"). Past it the session goes on
	// and what comes later is delivered after (order relaxed, counted).
	// Default 10s. 0 turns the handover off: the old owner drops what the
	// session held (counted session_moved). No equivalent elsewhere (EMQX
	// and HiveMQ hand sessions over inside their own cluster protocols).
	HandoverTimeout time.Duration `koanf:"handover_timeout"`

	// Operations (README.md, "Operations").

	// AdvertiseAdmin is the host:port other replicas and operators reach
	// this replica's admin listener at; every heartbeat carries it, and
	// GET /api/v1/cluster shows it. Default "": the admin listener's bound
	// address, an unspecified host (":8080", "0.0.0.0") replaced by this
	// machine's first non-loopback IP address (the pod IP in Kubernetes).
	// At most 256 bytes. Kafka: advertised.listeners.
	AdvertiseAdmin string `koanf:"advertise_admin"`
	// AdvertiseMQTT lists, separated by spaces, the addresses devices
	// reach this replica's MQTT listeners at (shown in the cluster view;
	// for v5 server references). Default "": each enabled listener as
	// scheme://host:port (mqtt, mqtts, ws, wss), derived as for
	// advertise_admin. At most 1024 bytes of printable ASCII.
	// Kafka: advertised.listeners.
	AdvertiseMQTT string `koanf:"advertise_mqtt"`
	// AdminForward: an admin action on a client whose session another
	// replica owns (DELETE /api/v1/clients/{id}) is forwarded to the
	// owner's advertised admin address with the caller's Authorization
	// header, and its answer is relayed. Default true. false: the replica
	// answers 409 naming the owner and its admin address, and sends no
	// credentials anywhere. No equivalent elsewhere (EMQX and HiveMQ
	// forward over their own cluster protocols).
	AdminForward bool `koanf:"admin_forward"`
	// JanitorSessionTimeout is session.timeout.ms of the janitor's consumer
	// group (<prefix>janitor): when the replica holding the janitor role
	// dies, another takes it after this long, and that comes out of the
	// 10 s budget for the wills of dead replicas only when the janitor
	// itself died (README.md, "Wills of dead replicas"). Default 6s, the
	// broker's default group.min.session.timeout.ms. Kafka consumer config:
	// session.timeout.ms.
	JanitorSessionTimeout time.Duration `koanf:"janitor_session_timeout"`
}

// DefaultConfig is cluster mode off, with the defaults used once enabled.
func DefaultConfig() Config {
	return Config{
		TopicPrefix:       "mqtt-bridge.",
		Partitions:        16,
		InboxPartitions:   1,
		ReplicationFactor: -1,
		MinCompactionLag:  time.Hour,
		InboxRetention:    7 * 24 * time.Hour,
		HeartbeatInterval: 2 * time.Second,
		ReplicaTimeout:    10 * time.Second,
		ClaimTimeout:      10 * time.Second,
		CopyTimeout:       10 * time.Second,

		MaxSessionRecordBytes: 900 << 10,
		HandoverTimeout:       10 * time.Second,
		AdminForward:          true,
		JanitorSessionTimeout: 6 * time.Second,
	}
}

// Validate reports every bad value, naming the key (cluster.<key>). It
// checks values even when clustering is off, so a mistake shows before the
// day it is turned on.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("cluster.%s: "+format, append([]any{key}, a...)...))
	}
	if c.ReplicaID != "" {
		if err := checkName(c.ReplicaID, 64); err != nil {
			bad("replica_id", "%q %v", c.ReplicaID, err)
		}
	}
	if c.TopicPrefix == "" {
		bad("topic_prefix", "must not be empty (internal topics would mix with data topics)")
	} else if err := checkName(c.TopicPrefix, 100); err != nil {
		bad("topic_prefix", "%q %v", c.TopicPrefix, err)
	}
	if c.Partitions < 1 || c.Partitions > 10000 {
		bad("partitions", "%d is not in 1..10000", c.Partitions)
	}
	if c.InboxPartitions < 1 || c.InboxPartitions > 1000 {
		bad("inbox_partitions", "%d is not in 1..1000", c.InboxPartitions)
	}
	if c.ReplicationFactor != -1 && (c.ReplicationFactor < 1 || c.ReplicationFactor > 32767) {
		bad("replication_factor", "%d is not -1 (broker default) or 1..32767", c.ReplicationFactor)
	}
	if c.MinCompactionLag < 0 {
		bad("min_compaction_lag", "%v is negative", c.MinCompactionLag)
	}
	if c.InboxRetention < time.Minute {
		bad("inbox_retention", "%v is below 1m", c.InboxRetention)
	}
	if c.HeartbeatInterval < 10*time.Millisecond {
		bad("heartbeat_interval", "%v is below 10ms", c.HeartbeatInterval)
	}
	if c.ReplicaTimeout < 3*c.HeartbeatInterval {
		bad("replica_timeout", "%v is less than 3 heartbeat intervals (%v)", c.ReplicaTimeout, 3*c.HeartbeatInterval)
	}
	if c.ClaimTimeout <= 0 {
		bad("claim_timeout", "%v must be positive", c.ClaimTimeout)
	}
	if c.CopyTimeout <= 0 {
		bad("copy_timeout", "%v must be positive", c.CopyTimeout)
	}
	if c.MaxSessionRecordBytes < 4096 || c.MaxSessionRecordBytes > 64<<20 {
		bad("max_session_record_bytes", "%d is not in 4096..67108864 (bytes)", c.MaxSessionRecordBytes)
	}
	if c.AdvertiseAdmin != "" {
		if err := checkHostPort(c.AdvertiseAdmin); err != nil {
			bad("advertise_admin", "%q %v", c.AdvertiseAdmin, err)
		}
	}
	if err := checkAdvertised(c.AdvertiseMQTT); err != nil {
		bad("advertise_mqtt", "%v", err)
	}
	if c.JanitorSessionTimeout < time.Second || c.JanitorSessionTimeout > 30*time.Minute {
		bad("janitor_session_timeout", "%v is not in 1s..30m (the broker's group.min/max.session.timeout.ms apply too)", c.JanitorSessionTimeout)
	}
	if c.HandoverTimeout < 0 || c.HandoverTimeout > 10*time.Minute {
		bad("handover_timeout", "%v is not in 0 (off)..10m", c.HandoverTimeout)
	} else if c.HandoverTimeout > 0 && c.HandoverTimeout < 100*time.Millisecond {
		bad("handover_timeout", "%v is below 100ms (0 turns the handover off)", c.HandoverTimeout)
	}
	return errors.Join(errs...)
}

// checkHostPort accepts host:port with a non-empty host, a port in
// 1..65535 and at most 256 bytes.
func checkHostPort(s string) error {
	if len(s) > 256 {
		return errors.New("is longer than 256 bytes")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("is not host:port")
	}
	if host == "" {
		return errors.New("has no host (other replicas must be able to reach it)")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("has port %q; want 1..65535", port)
	}
	return nil
}

// checkAdvertised accepts addresses separated by spaces: printable ASCII,
// at most 1024 bytes in all.
func checkAdvertised(s string) error {
	if len(s) > 1024 {
		return fmt.Errorf("is %d bytes; at most 1024", len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return fmt.Errorf("has byte %#x at %d; want printable ASCII addresses separated by spaces", s[i], i)
		}
	}
	return nil
}

// ResolvedReplicaID is ReplicaID, or the hostname when it is empty.
func (c Config) ResolvedReplicaID() (string, error) {
	if c.ReplicaID != "" {
		return c.ReplicaID, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("cluster.replica_id: empty and no hostname: %w", err)
	}
	if err := checkName(h, 64); err != nil {
		return "", fmt.Errorf("cluster.replica_id: empty, and the hostname %q %v; set it", h, err)
	}
	return h, nil
}

// Topic names.
func (c Config) sessionsTopic() string       { return c.TopicPrefix + "sessions" }
func (c Config) retainedTopic() string       { return c.TopicPrefix + "retained" }
func (c Config) replicasTopic() string       { return c.TopicPrefix + "replicas" }
func (c Config) inboxTopic(id string) string { return c.TopicPrefix + "inbox." + id }
func (c Config) janitorTopic() string        { return c.TopicPrefix + "janitor" }

// checkName accepts what a Kafka topic name accepts: [a-zA-Z0-9._-].
func checkName(s string, maxLen int) error {
	if len(s) > maxLen {
		return fmt.Errorf("is longer than %d bytes", maxLen)
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return fmt.Errorf("has %q at byte %d; only letters, digits, '.', '_' and '-' are allowed", b, i)
		}
	}
	return nil
}
