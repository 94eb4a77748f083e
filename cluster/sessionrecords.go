package cluster

// The session records of the sessions topic besides the claim: State
// (kind 2) and Ended (kind 3). Layout in README.md, "Records".

import (
	"encoding/binary"
	"fmt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// stateRecord is a session's whole state under its owner's epoch
// (State.Epoch). The client id is the record's key.
type stateRecord struct {
	Owner       string
	Incarnation uint64
	State       mqttfront.SessionState
	// Unconfirmed is kept in the cache only: a reap fired State.Will and
	// its uplink is not confirmed yet (reap.go).
	Unconfirmed bool
}

// endedRecord says the session owned under Epoch ended.
type endedRecord struct {
	Epoch int64
}

// State flags.
const (
	stateDisconnected = 0x01 // disconnectedAt follows
	stateWill         = 0x02 // the will follows the QoS 2 ids
	stateUnconfirmed  = 0x80 // cache only: a reap fired the will, not confirmed yet
)

// Subscription flags.
const (
	subNoLocal           = 0x01
	subRetainAsPublished = 0x02
)

// Will message flags.
const (
	willRetain        = 0x01
	willPayloadFormat = 0x02 // payload format byte follows
	willExpiry        = 0x04 // message expiry uv follows
)

// maxSubscriptionID is the largest v5 Subscription Identifier (a variable
// byte integer).
const maxSubscriptionID = 268435455

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

func (r stateRecord) encode() []byte {
	st := &r.State
	b := []byte{recordFormat, kindState}
	b = binary.AppendUvarint(b, uint64(st.Epoch))
	b = appendStr(b, r.Owner)
	b = binary.AppendUvarint(b, r.Incarnation)
	b = appendStr(b, st.Username)
	b = append(b, st.Version)
	b = binary.AppendUvarint(b, uint64(st.Expiry))
	var flags byte
	if !st.DisconnectedAt.IsZero() {
		flags |= stateDisconnected
	}
	if st.Will != nil {
		flags |= stateWill
	}
	if r.Unconfirmed {
		flags |= stateUnconfirmed
	}
	b = append(b, flags)
	if flags&stateDisconnected != 0 {
		b = appendTime(b, st.DisconnectedAt)
	}
	b = binary.AppendUvarint(b, uint64(len(st.Subscriptions)))
	for _, sub := range st.Subscriptions {
		b = appendStr(b, sub.Filter)
		var sf byte
		if sub.NoLocal {
			sf |= subNoLocal
		}
		if sub.RetainAsPublished {
			sf |= subRetainAsPublished
		}
		b = append(b, sub.QoS, sf, sub.RetainHandling)
		b = binary.AppendUvarint(b, uint64(sub.ID))
	}
	b = binary.AppendUvarint(b, uint64(len(st.InboundQoS2)))
	for _, id := range st.InboundQoS2 {
		b = binary.AppendUvarint(b, uint64(id))
	}
	if st.Will != nil {
		b = appendWill(b, st.Will)
		b = binary.AppendUvarint(b, uint64(st.WillDelay))
		b = appendTime(b, st.WillAt)
	}
	return b
}

// appendWill encodes a will: topic, payload, QoS, flags and the MQTT 5
// application properties. Publisher and time are not kept: the session's
// client id and user name are the will's, and it is stamped when it goes
// out.
func appendWill(b []byte, m *mqttfront.Message) []byte {
	b = appendStr(b, m.Topic)
	b = appendBytes(b, m.Payload)
	p := &m.Properties
	var flags byte
	if m.Retain {
		flags |= willRetain
	}
	if p.PayloadFormatSet {
		flags |= willPayloadFormat
	}
	if p.MessageExpirySet {
		flags |= willExpiry
	}
	b = append(b, m.QoS, flags)
	if p.PayloadFormatSet {
		b = append(b, p.PayloadFormat)
	}
	if p.MessageExpirySet {
		b = binary.AppendUvarint(b, uint64(p.MessageExpiry))
	}
	b = appendStr(b, p.ContentType)
	b = appendStr(b, p.ResponseTopic)
	b = appendBytes(b, p.CorrelationData)
	b = binary.AppendUvarint(b, uint64(len(p.User)))
	for _, u := range p.User {
		b = appendStr(b, u.Key)
		b = appendStr(b, u.Value)
	}
	return b
}

func (r endedRecord) encode() []byte {
	return binary.AppendUvarint([]byte{recordFormat, kindEnded}, uint64(r.Epoch))
}

// count reads an element count and refuses one that the remaining bytes
// cannot hold (each element is at least minSize bytes), so a corrupt
// count cannot make the decoder allocate.
func (d *decoder) count(what string, minSize int) int {
	n := d.uv(what)
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.err = fmt.Errorf("%w: %s %d does not fit in %d bytes", ErrCorrupt, what, n, len(d.b))
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

// uvMax reads a uvarint that must not exceed limit.
func (d *decoder) uvMax(what string, limit uint64) uint64 {
	v := d.uv(what)
	if d.err == nil && v > limit {
		d.err = fmt.Errorf("%w: %s %d above %d", ErrCorrupt, what, v, limit)
	}
	return v
}

func (d *decoder) bytes(what string) []byte {
	s := d.str(what)
	if s == "" {
		return nil
	}
	return []byte(s)
}

func (d *decoder) check(ok bool, format string, a ...any) {
	if d.err == nil && !ok {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, a...)...)
	}
}

func decodeState(clientID string, v []byte) (stateRecord, error) {
	if k, err := recordKind(v); err != nil || k != kindState {
		if err == nil {
			err = fmt.Errorf("%w: kind %d is not a session state", ErrCorrupt, k)
		}
		return stateRecord{}, err
	}
	d := decoder{b: v[2:]}
	var r stateRecord
	st := &r.State
	st.ClientID = clientID
	st.Epoch = int64(d.uvMax("epoch", 1<<63-1))
	r.Owner = d.str("owner")
	r.Incarnation = d.uv("incarnation")
	st.Username = d.str("username")
	st.Version = d.byte1("version")
	d.check(st.Version >= 3 && st.Version <= 5, "protocol version %d", st.Version)
	st.Expiry = uint32(d.uvMax("expiry", 0xffffffff))
	flags := d.byte1("flags")
	d.check(flags&^(stateDisconnected|stateWill|stateUnconfirmed) == 0, "unknown state flags %#x", flags)
	r.Unconfirmed = flags&stateUnconfirmed != 0
	if flags&stateDisconnected != 0 {
		st.DisconnectedAt = d.time("disconnected")
	}
	if n := d.count("subscriptions", 5); n > 0 {
		st.Subscriptions = make([]topics.Sub, n)
		for i := range st.Subscriptions {
			sub := &st.Subscriptions[i]
			sub.ClientID = clientID
			sub.Filter = d.str("filter")
			d.check(sub.Filter != "", "empty filter")
			if g, _, ok := topics.SplitShared(sub.Filter); ok {
				sub.Group = g
			}
			sub.QoS = d.byte1("qos")
			sf := d.byte1("subscription flags")
			sub.RetainHandling = d.byte1("retain handling")
			sub.ID = uint32(d.uvMax("subscription id", maxSubscriptionID))
			d.check(sub.QoS <= 2 && sub.RetainHandling <= 2 && sf&^(subNoLocal|subRetainAsPublished) == 0,
				"subscription %q: qos %d, flags %#x, retain handling %d", sub.Filter, sub.QoS, sf, sub.RetainHandling)
			sub.NoLocal, sub.RetainAsPublished = sf&subNoLocal != 0, sf&subRetainAsPublished != 0
		}
	}
	if n := d.count("qos 2 ids", 1); n > 0 {
		st.InboundQoS2 = make([]uint16, n)
		for i := range st.InboundQoS2 {
			id := d.uvMax("qos 2 id", 0xffff)
			d.check(id != 0, "qos 2 id 0")
			st.InboundQoS2[i] = uint16(id)
		}
	}
	if flags&stateWill != 0 {
		st.Will = d.will(clientID, st.Username)
		st.WillDelay = uint32(d.uvMax("will delay", 0xffffffff))
		st.WillAt = d.time("will at")
	}
	return r, d.end()
}

func (d *decoder) will(clientID, username string) *mqttfront.Message {
	m := &mqttfront.Message{ClientID: clientID, Username: username}
	m.Topic = d.str("will topic")
	d.check(m.Topic != "", "empty will topic")
	m.Payload = d.bytes("will payload")
	m.QoS = d.byte1("will qos")
	flags := d.byte1("will flags")
	d.check(m.QoS <= 2 && flags&^(willRetain|willPayloadFormat|willExpiry) == 0, "will qos %d, flags %#x", m.QoS, flags)
	m.Retain = flags&willRetain != 0
	p := &m.Properties
	if flags&willPayloadFormat != 0 {
		p.PayloadFormat, p.PayloadFormatSet = d.byte1("payload format"), true
	}
	if flags&willExpiry != 0 {
		p.MessageExpiry, p.MessageExpirySet = uint32(d.uvMax("message expiry", 0xffffffff)), true
	}
	p.ContentType = d.str("content type")
	p.ResponseTopic = d.str("response topic")
	p.CorrelationData = d.bytes("correlation data")
	if n := d.count("user properties", 2); n > 0 {
		p.User = make([]mqttfront.UserProperty, n)
		for i := range p.User {
			p.User[i].Key = d.str("user property name")
			p.User[i].Value = d.str("user property value")
		}
	}
	return m
}

func decodeEnded(v []byte) (endedRecord, error) {
	if k, err := recordKind(v); err != nil || k != kindEnded {
		if err == nil {
			err = fmt.Errorf("%w: kind %d is not a session end", ErrCorrupt, k)
		}
		return endedRecord{}, err
	}
	d := decoder{b: v[2:]}
	r := endedRecord{Epoch: int64(d.uvMax("epoch", 1<<63-1))}
	return r, d.end()
}
