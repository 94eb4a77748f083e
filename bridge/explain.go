package bridge

import (
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// Explainer is the dry run of a configuration's routing, for
// `mqtt-kafka-bridge explain`. It joins what the bridge joins at run time:
// mapping decides the record, the producer's partitioner
// (kafka.producer.partitioner) the partition of a keyed record. It opens
// nothing.
type Explainer struct {
	rules       *mapping.Rules
	partitioner string
}

// NewExplainer compiles cfg's mapping rules; cfg should be validated.
func NewExplainer(cfg Config) (*Explainer, error) {
	rules, err := mapping.Compile(cfg.Mapping)
	if err != nil {
		return nil, err
	}
	return &Explainer{rules: rules, partitioner: cfg.Kafka.Producer.Partitioner}, nil
}

// ExplainPublish is an MQTT publish to explain.
type ExplainPublish struct {
	Topic, ClientID, Username string
	QoS                       byte
	Payload                   []byte
}

// UplinkExplanation is mapping's explanation of a publish (every rule's
// verdict, the captures and the record), plus where it would land.
type UplinkExplanation struct {
	mapping.Explanation
	Topic string // the MQTT topic explained
	// Routed is false when no rule matched and mapping.unmatched.action is
	// drop: the publish would be counted and dropped.
	Routed bool
	// Partition is the partition of Partitions the record's key lands on,
	// -1 without a key (the producer then picks one at random);
	// Partitioner is the kafka.producer.partitioner that picked it.
	Partition   int32
	Partitions  int32
	Partitioner string
}

// Uplink explains one publish, for a Kafka topic with the given number of
// partitions.
func (e *Explainer) Uplink(in ExplainPublish, partitions int32) UplinkExplanation {
	ex := UplinkExplanation{
		Explanation: e.rules.Explain(&mapping.Publish{Topic: in.Topic, ClientID: in.ClientID, Username: in.Username,
			QoS: in.QoS, Payload: in.Payload, ReceivedAt: time.Now()}),
		Topic: in.Topic, Partition: -1, Partitions: partitions, Partitioner: e.partitioner,
	}
	ex.Routed = ex.Outcome != mapping.Unmatched
	if ex.Routed && ex.Record.Key != nil {
		ex.Partition = kafka.PartitionWith(e.partitioner, ex.Record.Key, partitions)
	}
	return ex
}

// ExplainHeader is one header of a Kafka record to explain.
type ExplainHeader struct {
	Key, Value string
}

// Downlink explains a Kafka record on topic: the MQTT message the
// downlink rules make of it, or why none does (a *mapping.DownlinkError).
func (e *Explainer) Downlink(topic string, key []byte, headers []ExplainHeader) (mapping.Message, error) {
	kr := &mapping.KafkaRecord{Topic: topic, Key: key}
	for _, h := range headers {
		kr.Headers = append(kr.Headers, mapping.Header{Key: h.Key, Value: []byte(h.Value)})
	}
	return e.rules.Downlink(kr)
}
