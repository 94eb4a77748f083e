package mapping

import (
	"fmt"
	"strconv"
	"time"
)

// Property is one MQTT 5 user property. Names may repeat; order is kept.
type Property struct {
	Key, Value string
}

// Publish is an inbound MQTT publish as the broker hands it to the bridge.
// The Content type, response topic and correlation data are MQTT 5 properties
// ("" or nil when absent).
type Publish struct {
	Topic           string
	ClientID        string
	Username        string
	QoS             byte
	Retain          bool
	Payload         []byte
	ReceivedAt      time.Time
	UserProperties  []Property
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a Kafka record ready to produce. The partition is chosen by the
// producer from Key.
//
// Aliasing: Value may be the publish's Payload itself (raw format), and
// header values share one buffer per record; treat both as read-only.
type Record struct {
	Rule    string // the uplink rule that matched; "" for an unmatched publish
	Topic   string
	Key     []byte // nil = no key
	Headers []Header
	Value   []byte
	Ack     Ack
	Reason  Reason // why a dead letter is one; "" otherwise
}

// Outcome is what Uplink decided for a publish.
type Outcome uint8

const (
	// Matched: the record goes to the rule's Kafka topic.
	Matched Outcome = iota
	// Unmatched: no rule matched and unmatched.action is drop. The record is
	// empty but for Reason; the bridge counts and drops the publish.
	Unmatched
	// DeadLetter: the record targets the dead-letter topic and carries the
	// reason in Reason and in the mqtt.dlq.reason header.
	DeadLetter
)

// String returns the outcome's name, for logs and metric labels.
func (o Outcome) String() string {
	switch o {
	case Matched:
		return "matched"
	case Unmatched:
		return "unmatched"
	case DeadLetter:
		return "dead_letter"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Reason says why a record went to the dead-letter topic, or why a downlink
// record could not be mapped. The values are stable: they appear in the
// mqtt.dlq.reason header and in metric labels.
type Reason string

const (
	// ReasonUnmatched: no uplink rule matched the MQTT topic.
	ReasonUnmatched Reason = "unmatched"
	// ReasonIllegalKafkaTopic: the kafka_topic template rendered an illegal
	// Kafka topic name (empty, too long, or a character outside [a-zA-Z0-9._-]).
	ReasonIllegalKafkaTopic Reason = "illegal_kafka_topic"
	// ReasonTooLarge: the record exceeds the producer's maximum size. Set by
	// the bridge through Rules.DeadLetter.
	ReasonTooLarge Reason = "too_large"
	// ReasonKafkaRejected: Kafka refused the record for good. Set by the
	// bridge through Rules.DeadLetter.
	ReasonKafkaRejected Reason = "kafka_rejected"

	// ReasonNoRule: no downlink rule consumes the record's Kafka topic.
	ReasonNoRule Reason = "no_rule"
	// ReasonMissingValue: a downlink placeholder had nothing to fill it (no
	// key, missing header).
	ReasonMissingValue Reason = "missing_value"
	// ReasonIllegalValue: a downlink placeholder value is empty, not UTF-8,
	// or contains '/', '+', '#' or U+0000.
	ReasonIllegalValue Reason = "illegal_value"
	// ReasonIllegalMQTTTopic: the rendered MQTT topic or the mqtt.topic header
	// is not a topic name the bridge may publish to.
	ReasonIllegalMQTTTopic Reason = "illegal_mqtt_topic"
	// ReasonTopicNotAllowed: the mqtt.topic header matches none of the rule's
	// allowed_topics.
	ReasonTopicNotAllowed Reason = "topic_not_allowed"
)

// Header names the uplink sets. User properties keep their own names.
const (
	HeaderTopic           = "mqtt.topic"
	HeaderClientID        = "mqtt.client_id"
	HeaderUsername        = "mqtt.username"
	HeaderQoS             = "mqtt.qos"
	HeaderRetain          = "mqtt.retain"
	HeaderReceivedAt      = "mqtt.received_at"
	HeaderContentType     = "mqtt.content_type"
	HeaderResponseTopic   = "mqtt.response_topic"
	HeaderCorrelationData = "mqtt.correlation_data"
	HeaderDLQReason       = "mqtt.dlq.reason"
	HeaderDLQRule         = "mqtt.dlq.rule"
	HeaderDLQDetail       = "mqtt.dlq.detail"
	// HeaderPayloadSize is the size in bytes of a payload a too_large dead
	// letter leaves out.
	HeaderPayloadSize = "mqtt.payload_size"
)

// reservedPrefix is the header namespace of the bridge. A user property in it
// is dropped so a device cannot forge provenance headers.
const reservedPrefix = "mqtt."

// maxCaptures is how many captures fit on the stack while matching.
const maxCaptures = 8

// Uplink maps a publish to a Kafka record. The first rule whose filter
// matches p.Topic wins. See Outcome for the three results. It does not
// modify p and is safe for concurrent use.
func (r *Rules) Uplink(p *Publish) (Record, Outcome) {
	i := r.index.match(p.Topic)
	if i < 0 {
		if r.unmatchedDL {
			return r.deadLetterRecord(p, nil, nil, ReasonUnmatched, ""), DeadLetter
		}
		return Record{Reason: ReasonUnmatched}, Unmatched
	}
	rule := &r.uplink[i]
	var buf [maxCaptures]string
	caps, _ := rule.filter.match(p.Topic, buf[:0])
	return r.uplinkWith(rule, caps, p)
}

// uplinkWith builds the record for a rule already known to match.
func (r *Rules) uplinkWith(rule *uplinkRule, caps []string, p *Publish) (Record, Outcome) {
	var key []byte
	if rule.hasKey {
		// A key that renders empty stays an empty, non-nil key, so records
		// of one rule never flip between keyed and unkeyed partitioning.
		key = rule.key.appendUplink(make([]byte, 0, rule.key.uplinkLen(caps, p)), caps, p)
	}
	topic := rule.topic.renderUplink(caps, p)
	if rule.fallible {
		// An empty value is refused even when the result is a legal name:
		// "iot.{kind}" must not quietly become "iot.".
		err := validKafkaTopic(topic)
		if err == nil && rule.topic.emptyValue(caps, p) {
			err = fmt.Errorf("Kafka topic %q: a placeholder rendered empty", topic)
		}
		if err != nil {
			return r.deadLetterRecord(p, rule, key, ReasonIllegalKafkaTopic, err.Error()), DeadLetter
		}
	}
	rec := Record{
		Rule:    rule.name,
		Topic:   topic,
		Key:     key,
		Headers: appendHeaders(p, "", "", ""),
		Value:   p.Payload,
		Ack:     rule.ack,
	}
	if rule.format == FormatJSON {
		rec.Value = appendEnvelope(nil, p)
	}
	return rec, Matched
}

// appendHeaders returns the provenance headers of p, then its user
// properties, then the dead-letter headers when reason is set. All values
// share one allocation.
func appendHeaders(p *Publish, reason Reason, rule, detail string) []Header {
	n := 6 + len(p.UserProperties)
	size := len(p.Topic) + len(p.ClientID) + len(p.Username) + 3 + len("false") + 20 +
		len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData) +
		len(reason) + len(rule) + len(detail)
	for _, up := range p.UserProperties {
		size += len(up.Value)
	}
	if p.ContentType != "" {
		n++
	}
	if p.ResponseTopic != "" {
		n++
	}
	if p.CorrelationData != nil {
		n++
	}
	if reason != "" {
		n += 3
	}
	hs := make([]Header, 0, n)
	buf := make([]byte, 0, size)
	add := func(k string, v []byte) {
		start := len(buf)
		buf = append(buf, v...)
		hs = append(hs, Header{Key: k, Value: buf[start:len(buf):len(buf)]})
	}
	addString := func(k, v string) {
		start := len(buf)
		buf = append(buf, v...)
		hs = append(hs, Header{Key: k, Value: buf[start:len(buf):len(buf)]})
	}
	addString(HeaderTopic, p.Topic)
	addString(HeaderClientID, p.ClientID)
	if p.Username != "" {
		addString(HeaderUsername, p.Username)
	}
	start := len(buf)
	buf = strconv.AppendUint(buf, uint64(p.QoS), 10)
	hs = append(hs, Header{Key: HeaderQoS, Value: buf[start:len(buf):len(buf)]})
	addString(HeaderRetain, strconv.FormatBool(p.Retain))
	start = len(buf)
	buf = strconv.AppendInt(buf, unixMilli(p.ReceivedAt), 10)
	hs = append(hs, Header{Key: HeaderReceivedAt, Value: buf[start:len(buf):len(buf)]})
	if p.ContentType != "" {
		addString(HeaderContentType, p.ContentType)
	}
	if p.ResponseTopic != "" {
		addString(HeaderResponseTopic, p.ResponseTopic)
	}
	if p.CorrelationData != nil {
		add(HeaderCorrelationData, p.CorrelationData)
	}
	for _, up := range p.UserProperties {
		if !reserved(up.Key) {
			addString(up.Key, up.Value)
		}
	}
	if reason != "" {
		addString(HeaderDLQReason, string(reason))
		if rule != "" {
			addString(HeaderDLQRule, rule)
		}
		if detail != "" {
			addString(HeaderDLQDetail, detail)
		}
	}
	return hs
}

// unixMilli is t in Unix milliseconds; the zero time is 0.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
