package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// KafkaRecord is a consumed Kafka record.
type KafkaRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Headers   []Header
	Value     []byte
}

// Message is an MQTT message to publish to subscribers. Payload aliases the
// record's Value; CorrelationData aliases a header value.
type Message struct {
	Rule            string
	Topic           string
	QoS             byte
	Retain          bool
	Payload         []byte
	UserProperties  []Property
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
}

// DownlinkError says why a Kafka record could not become an MQTT message.
// The bridge decides what to do with the record (skip and count, or
// dead-letter); the error never means "retry".
type DownlinkError struct {
	Rule   string // "" for ReasonNoRule
	Reason Reason
	Detail string
}

func (e *DownlinkError) Error() string {
	if e.Rule == "" {
		return fmt.Sprintf("downlink %s: %s", e.Reason, e.Detail)
	}
	return fmt.Sprintf("downlink rule %q: %s: %s", e.Rule, e.Reason, e.Detail)
}

// Is makes errors.Is(err, ErrNoRule) and friends work by Reason.
func (e *DownlinkError) Is(target error) bool {
	t, ok := target.(*DownlinkError)
	return ok && t.Rule == "" && t.Detail == "" && t.Reason == e.Reason
}

// Sentinels for errors.Is on Downlink's errors.
var (
	ErrNoRule          error = &DownlinkError{Reason: ReasonNoRule}
	ErrMissingValue    error = &DownlinkError{Reason: ReasonMissingValue}
	ErrIllegalValue    error = &DownlinkError{Reason: ReasonIllegalValue}
	ErrIllegalTopic    error = &DownlinkError{Reason: ReasonIllegalMQTTTopic}
	ErrTopicNotAllowed error = &DownlinkError{Reason: ReasonTopicNotAllowed}
)

// Downlink maps a Kafka record to an MQTT message by the rule that consumes
// k.Topic. The topic is the rule's template, or, when the rule allows it, the
// record's mqtt.topic header (which must match the rule's allowed_topics).
// Headers become user properties, except mqtt.topic (consumed by the rule)
// and mqtt.content_type, mqtt.response_topic and mqtt.correlation_data, which
// become the MQTT 5 properties of those names. Headers that MQTT cannot carry
// (not UTF-8, or containing U+0000) are left out. [MQTT-1.5.4-1] [MQTT-1.5.4-2]
// The error is a *DownlinkError.
func (r *Rules) Downlink(k *KafkaRecord) (Message, error) {
	i, ok := r.byKafkaTopic[k.Topic]
	if !ok {
		return Message{}, &DownlinkError{Reason: ReasonNoRule, Detail: fmt.Sprintf("no downlink rule consumes Kafka topic %q", k.Topic)}
	}
	rule := &r.downlink[i]
	topic, err := rule.renderTopic(k)
	if err != nil {
		return Message{}, err
	}
	m := Message{Rule: rule.name, Topic: topic, QoS: rule.qos, Retain: rule.retain, Payload: k.Value}
	for _, h := range k.Headers {
		switch h.Key {
		case HeaderTopic:
		case HeaderContentType:
			if s := string(h.Value); mqttString(s) {
				m.ContentType = s
			}
		case HeaderResponseTopic:
			if s := string(h.Value); validTopicName(s) == nil { // [MQTT-3.3.2-14]
				m.ResponseTopic = s
			}
		case HeaderCorrelationData:
			m.CorrelationData = h.Value
		default:
			if v := string(h.Value); mqttString(h.Key) && mqttString(v) {
				m.UserProperties = append(m.UserProperties, Property{Key: h.Key, Value: v})
			}
		}
	}
	return m, nil
}

// Headers DownlinkDeadLetter adds to say where a record came from.
const (
	HeaderDLQSourceTopic     = "mqtt.dlq.source_topic"
	HeaderDLQSourcePartition = "mqtt.dlq.source_partition"
	HeaderDLQSourceOffset    = "mqtt.dlq.source_offset"
)

// DownlinkDeadLetter builds a record for the dead-letter topic from a Kafka
// record that Downlink refused with err. It keeps the key, value and headers
// and appends mqtt.dlq.reason, mqtt.dlq.rule (when known), mqtt.dlq.detail
// and the source topic, partition and offset. ok is false when no
// dead-letter topic is configured: the bridge then skips and counts the
// record. Downlink rules never require a dead-letter topic.
func (r *Rules) DownlinkDeadLetter(k *KafkaRecord, err error) (rec Record, ok bool) {
	reason, rule, detail := Reason("error"), "", ""
	if err != nil {
		detail = err.Error()
	}
	var de *DownlinkError
	if errors.As(err, &de) {
		reason, rule, detail = de.Reason, de.Rule, de.Detail
	}
	rec = Record{Rule: rule, Topic: r.deadLetter, Key: k.Key, Value: k.Value, Ack: AckKafka, Reason: reason}
	if r.deadLetter == "" {
		return rec, false
	}
	hs := make([]Header, 0, len(k.Headers)+6)
	hs = append(hs, k.Headers...)
	hs = appendDLQHeaders(hs, reason, rule, detail)
	hs = append(hs,
		Header{HeaderDLQSourceTopic, []byte(k.Topic)},
		Header{HeaderDLQSourcePartition, strconv.AppendInt(nil, int64(k.Partition), 10)},
		Header{HeaderDLQSourceOffset, strconv.AppendInt(nil, k.Offset, 10)},
	)
	rec.Headers = hs
	return rec, true
}

// renderTopic picks the MQTT topic for k: the allowed mqtt.topic header, or
// the template.
func (d *downlinkRule) renderTopic(k *KafkaRecord) (string, error) {
	fail := func(reason Reason, format string, args ...any) (string, error) {
		return "", &DownlinkError{Rule: d.name, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	if d.topicHeader {
		if v, ok := lastHeader(k.Headers, HeaderTopic); ok {
			t := string(v)
			if err := validPublishTopic(t); err != nil {
				return fail(ReasonIllegalMQTTTopic, "header %s %q: %v", HeaderTopic, t, err)
			}
			for i := range d.allowed {
				if _, ok := d.allowed[i].match(t, nil); ok {
					return t, nil
				}
			}
			return fail(ReasonTopicNotAllowed, "header %s %q matches none of allowed_topics", HeaderTopic, t)
		}
	}
	if d.topic.static() {
		return d.topic.literal(), nil
	}
	var b strings.Builder
	for _, s := range d.topic.segs {
		var v string
		switch s.kind {
		case segLiteral:
			b.WriteString(s.text)
			continue
		case segKey:
			if k.Key == nil {
				return fail(ReasonMissingValue, "{key}: the record has no key")
			}
			v = string(k.Key)
		case segKafkaTopic:
			v = k.Topic
		case segHeader:
			h, ok := lastHeader(k.Headers, s.text)
			if !ok {
				return fail(ReasonMissingValue, "{header.%s}: the record has no such header", s.text)
			}
			v = string(h)
		}
		if err := levelValue(v); err != nil {
			return fail(ReasonIllegalValue, "%s %q: %v", placeholderName(s), v, err)
		}
		b.WriteString(v)
	}
	t := b.String()
	if err := validPublishTopic(t); err != nil {
		return fail(ReasonIllegalMQTTTopic, "%q: %v", t, err)
	}
	return t, nil
}

// validPublishTopic checks a topic the bridge may publish to: a valid topic
// name outside the broker's '$' namespace.
func validPublishTopic(t string) error {
	if err := validTopicName(t); err != nil {
		return err
	}
	if t[0] == '$' {
		return errors.New("topics starting with '$' are reserved for the broker")
	}
	return nil
}

// levelValue checks a value substituted into an MQTT topic template: it must
// fill part of exactly one level, so it may not be empty nor hold '/', '+',
// '#' or U+0000, and must be UTF-8.
func levelValue(v string) error {
	switch {
	case v == "":
		return errors.New("empty")
	case !utf8.ValidString(v):
		return errors.New("not valid UTF-8")
	case strings.ContainsAny(v, "/+#\x00"):
		return errors.New("contains '/', '+', '#' or U+0000")
	}
	return nil
}

func placeholderName(s segment) string {
	switch s.kind {
	case segKey:
		return "{key}"
	case segKafkaTopic:
		return "{kafka_topic}"
	case segHeader:
		return "{header." + s.text + "}"
	}
	return ""
}

// lastHeader returns the value of the last header named key, as the Java
// client's Headers.lastHeader does.
func lastHeader(hs []Header, key string) ([]byte, bool) {
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Key == key {
			return hs[i].Value, true
		}
	}
	return nil, false
}

// mqttString reports whether s can be an MQTT UTF-8 string: well-formed and
// without U+0000. [MQTT-1.5.4-1] [MQTT-1.5.4-2]
func mqttString(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
