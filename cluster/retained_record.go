package cluster

import (
	"encoding/binary"
	"fmt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// The retained record (kind 4, README.md "Records"): the value of a key
// (the MQTT topic) of the retained topic. A clear is a tombstone (nil
// value), never an empty value.
//
//	format 1 | kind 4 | qos | flags | [payload format] | [expiry uv] |
//	content type str | response topic str | correlation data str |
//	nUser uv {name str, value str} | received at t | payload (the rest)
//
// flags: 0x01 payload format set, 0x02 message expiry set. The topic is
// the record's key; the publisher is not kept (a retained message is
// delivered by topic, and the ACL on delivery is checked on the topic).

const (
	retainedPayloadFormat = 0x01
	retainedExpiry        = 0x02
)

func encodeRetained(m *mqttfront.Message) []byte {
	p := &m.Properties
	b := make([]byte, 0, 16+len(p.ContentType)+len(p.ResponseTopic)+len(p.CorrelationData)+len(m.Payload))
	b = append(b, recordFormat, kindRetained, m.QoS)
	var flags byte
	if p.PayloadFormatSet {
		flags |= retainedPayloadFormat
	}
	if p.MessageExpirySet {
		flags |= retainedExpiry
	}
	b = append(b, flags)
	if p.PayloadFormatSet {
		b = append(b, p.PayloadFormat)
	}
	if p.MessageExpirySet {
		b = binary.AppendUvarint(b, uint64(p.MessageExpiry))
	}
	b = appendStr(b, p.ContentType)
	b = appendStr(b, p.ResponseTopic)
	b = appendStr(b, string(p.CorrelationData))
	b = binary.AppendUvarint(b, uint64(len(p.User)))
	for _, u := range p.User {
		b = appendStr(b, u.Key)
		b = appendStr(b, u.Value)
	}
	b = appendTime(b, m.ReceivedAt)
	return append(b, m.Payload...)
}

// decodeRetained decodes a retained record of topic. The message's slices
// are copies (v may be a buffer the consumer reuses).
func decodeRetained(topic string, v []byte) (*mqttfront.Message, error) {
	if k, err := recordKind(v); err != nil || k != kindRetained {
		if err == nil {
			err = fmt.Errorf("%w: kind %d is not a retained message", ErrCorrupt, k)
		}
		return nil, err
	}
	d := decoder{b: v[2:]}
	m := &mqttfront.Message{Topic: topic, Retain: true}
	m.QoS = d.byte1("qos")
	if m.QoS > 2 && d.err == nil {
		d.err = fmt.Errorf("%w: qos %d", ErrCorrupt, m.QoS)
	}
	flags := d.byte1("flags")
	if flags&^(retainedPayloadFormat|retainedExpiry) != 0 && d.err == nil {
		d.err = fmt.Errorf("%w: unknown retained flags %#x", ErrCorrupt, flags)
	}
	p := &m.Properties
	if flags&retainedPayloadFormat != 0 {
		p.PayloadFormat, p.PayloadFormatSet = d.byte1("payload format"), true
	}
	if flags&retainedExpiry != 0 {
		e := d.uv("expiry")
		if e > 0xffffffff && d.err == nil {
			d.err = fmt.Errorf("%w: expiry %d over 32 bits", ErrCorrupt, e)
		}
		p.MessageExpiry, p.MessageExpirySet = uint32(e), true
	}
	p.ContentType = d.str("content type")
	p.ResponseTopic = d.str("response topic")
	if cd := d.str("correlation data"); cd != "" {
		p.CorrelationData = []byte(cd)
	}
	n := d.uv("user properties")
	if d.err == nil && n > uint64(len(d.b))/2 {
		// Each property takes at least two bytes: a count beyond that is
		// a corrupt record, not an allocation to make.
		d.fail("user properties")
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := d.str("user property name")
		p.User = append(p.User, mqttfront.UserProperty{Key: k, Value: d.str("user property value")})
	}
	m.ReceivedAt = d.time("received at")
	if d.err != nil {
		return nil, d.err
	}
	m.Payload = append([]byte(nil), d.b...)
	return m, nil
}
