package admin

import (
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// Front is the MQTT front end as the admin API uses it; *mqttfront.Server
// has these methods. Until Ready is closed the front end is restoring its
// sessions and nothing else may be read: the API answers 503 until then.
type Front interface {
	Ready() <-chan struct{}
	Stats() mqttfront.Stats
	Clients() []mqttfront.ClientInfo
	Client(id string) (mqttfront.ClientInfo, []mqttfront.Subscription, bool)
	Subscriptions(match string) []mqttfront.Subscription
	RetainedMessages(match string, limit int) []mqttfront.RetainedInfo
	// Kick disconnects a connected client (reason admin_kick, v5
	// DISCONNECT 0x98); false when it is not connected.
	Kick(id string) bool
	// Publish delivers m as a downlink message (no publishing client).
	Publish(m *mqttfront.Message, done func(error))
}

// Bridge is the rest of the bridge as the admin API sees it; bridge.New
// builds one (bridge/adminview.go). Its methods are safe for concurrent use
// and return snapshots.
type Bridge interface {
	// Kafka is the probe's, the producer's, the spool's and the
	// consumer's state.
	Kafka() KafkaState
	// Parts is every part's own state and reason (kafka, producer, spool,
	// downlink, each listener), in a fixed order; bridge/parts.go.
	Parts() []Part
	// Readiness is the /readyz answer: whether the bridge takes traffic,
	// and a body (encoded as JSON) saying why.
	Readiness() (ready bool, body any)
	// Rules are the mapping rules in force; a reload swaps them.
	Rules() *mapping.Rules
	// ExplainUplink is the dry run of p under the rules in force, as the
	// bridge would route it: mapping's explanation, and the partition of
	// partitions that the producer's partitioner (kafka.producer.partitioner)
	// picks for the record's key, -1 when the publish is not routed or the
	// record has no key.
	ExplainUplink(p *mapping.Publish, partitions int32) (mapping.Explanation, int32)
	// Mapping is the mapping section the bridge started with: the rules'
	// MQTT and Kafka topics for /api/v1/routes.
	Mapping() mapping.Config
	// Routes are the per-rule counters.
	Routes() Routes
	// Cluster is cluster mode as the API reads it; nil when cluster mode
	// is off (cluster.enabled: false).
	Cluster() Cluster
}

// Cluster is this replica's cluster node as the admin API sees it
// (bridge/clusterview.go). Its methods are safe for concurrent use.
type Cluster interface {
	// ReplicaID is this replica's id (cluster.replica_id).
	ReplicaID() string
	// View is the cluster as this replica sees it now, for GET
	// /api/v1/cluster.
	View() ClusterView
	// Owner is the replica that owns clientID's session as the sessions
	// table says; false when the table knows no session for it.
	Owner(clientID string) (ClusterReplica, bool)
	// Forward says whether an admin action on a client owned elsewhere is
	// forwarded to the owner (cluster.admin_forward), else answered 409.
	Forward() bool
}

// ClusterView is GET /api/v1/cluster: this replica, every replica it
// knows, its internal tables and its claims (openapi.json, ClusterView).
type ClusterView struct {
	Replica        string `json:"replica"`     // this replica's id (cluster.replica_id)
	Incarnation    string `json:"incarnation"` // this run's incarnation, hex
	State          string `json:"state"`       // new, starting, checking_replica_id, catching_up, ready, stopped
	Ready          bool   `json:"ready"`
	NotReadyReason string `json:"not_ready_reason,omitempty"`
	// ReplicaTimeoutSeconds is cluster.replica_timeout: a replica whose
	// heartbeat age is beyond it is stale.
	ReplicaTimeoutSeconds float64          `json:"replica_timeout_seconds"`
	LiveReplicas          int              `json:"live_replicas"`
	Replicas              []ClusterReplica `json:"replicas"`
	Tables                []ClusterTable   `json:"tables"`
	Claims                ClusterClaims    `json:"claims"`
	// Repairs counts the session records this replica re-wrote over a
	// fenced record or a tombstone.
	Repairs uint64 `json:"repairs"`
}

// ClusterReplica is one replica in ClusterView.
type ClusterReplica struct {
	ID          string `json:"id"`
	Incarnation string `json:"incarnation"` // hex; "" with no heartbeat
	// State: starting, alive or stopping (its last heartbeat), stale (no
	// heartbeat within cluster.replica_timeout), unknown (owns sessions
	// but has no heartbeat in the replicas topic).
	State string `json:"state"`
	Live  bool   `json:"live"`
	Self  bool   `json:"self"` // the replica that answered
	// HeartbeatAgeSeconds: how far its last heartbeat is behind the
	// newest heartbeat in the replicas topic, in the broker's clock
	// (LogAppendTime); null with no heartbeat.
	HeartbeatAgeSeconds *float64  `json:"heartbeat_age_seconds"`
	LastHeartbeat       time.Time `json:"last_heartbeat,omitzero"` // broker timestamp
	StartedAt           time.Time `json:"started_at,omitzero"`     // its own clock
	AdminAddress        string    `json:"admin_address"`           // cluster.advertise_admin; "" when unknown
	MQTTAddresses       []string  `json:"mqtt_addresses"`          // cluster.advertise_mqtt
	Sessions            struct {
		Online  int `json:"online"`
		Offline int `json:"offline"`
	} `json:"sessions"` // owned, as the sessions table says
	// InboxLag is the replica's inbox records not yet applied. null:
	// unknown (cross-replica routing does not report it yet).
	InboxLag *int64 `json:"inbox_lag"`
}

// ClusterTable is one internal table of this replica.
type ClusterTable struct {
	Name           string `json:"name"` // sessions, replicas, retained
	Lag            int64  `json:"lag"`  // records behind the partitions' high-water marks
	RecordsApplied uint64 `json:"records_applied"`
	CaughtUp       bool   `json:"caught_up"` // applied up to the marks seen at start
}

// ClusterClaims are this replica's session claims since start, by
// outcome.
type ClusterClaims struct {
	Won        uint64 `json:"won"`
	Lost       uint64 `json:"lost"`    // a later claim was read first (the CONNECT lost a race)
	Refused    uint64 `json:"refused"` // the owner binding refused it (CONNACK 0x85)
	Failed     uint64 `json:"failed"`  // not produced or not read back in time
	Superseded uint64 `json:"superseded"`
}

// KafkaState is the Kafka side of the bridge at one instant.
type KafkaState struct {
	// Reachable is mqtt_bridge_kafka_connected: the probe's last round
	// found Kafka up and the producer has connected once. It never
	// depends on traffic.
	Reachable bool
	Probe     kafka.Health // the probe's last verdict (kafka.Prober)
	Producer  kafka.ProducerStats
	Spool     bool                 // kafka.spool.enabled
	Downlink  bool                 // a consumer runs (there are downlink rules)
	Lag       int64                // the consumer's lag, when Downlink
	Consumer  kafka.ConsumerHealth // partitions held, last error, when Downlink
}

// Part is one part of the bridge with its own state and the reason for
// it; the same values label mqtt_bridge_part_state.
type Part struct {
	Part   string `json:"part"`
	Up     bool   `json:"up"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// Routes are the bridge's per-rule counters at one instant.
type Routes struct {
	Uplink, Downlink map[string]RouteCount // by rule name; absent = nothing counted yet
	Unmatched        uint64                // uplink publishes no rule matched
	// LatencyNanos and LatencyCount sum the publish-to-ack latency of the
	// QoS 1/2 records Kafka acknowledged.
	LatencyNanos int64
	LatencyCount uint64
}

// RouteCount is one rule's counters. Uplink: publishes matched, records
// Kafka acknowledged, records that failed, dead letters. Downlink: records
// mapped, published to MQTT, not published, dead-lettered.
type RouteCount struct {
	Matched      uint64 `json:"matched"`
	Produced     uint64 `json:"produced"`
	Failed       uint64 `json:"failed"`
	DeadLettered uint64 `json:"dead_lettered"`
}
