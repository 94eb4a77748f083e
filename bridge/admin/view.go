package admin

import (
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// Front is the MQTT front end as the admin API uses it; *mqttfront.Server
// has these methods. Until Ready is closed the front end is restoring its
// sessions and nothing else may be read: the API answers 503 until then.
type Front interface {
	Ready() <-chan struct{}
	Stats() mqttfront.Stats
	Clients() []mqttfront.ClientInfo
	Client(id string) (mqttfront.ClientInfo, []topics.Sub, bool)
	Subscriptions(match string) []topics.Sub
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
	// Mapping is the mapping section the bridge started with: the rules'
	// MQTT and Kafka topics for /api/v1/routes.
	Mapping() mapping.Config
	// Routes are the per-rule counters.
	Routes() Routes
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
