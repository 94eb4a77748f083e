package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// Record format bytes. Every encoded record starts with one; a decoder that
// meets a format it does not know refuses the record. Bump a format when the
// field layout changes and keep decoding the old one.
const (
	messageFormatV1 byte = 1
	// sessionFormatV1 held the session's subscriptions inside the record
	// (store format version 1); it is still decoded, for migration.
	sessionFormatV1 byte = 1
	// sessionFormatV2 is format 1 without the subscriptions, which are
	// records of their own (subscriptionFormatV1).
	sessionFormatV2      byte = 2
	subscriptionFormatV1 byte = 1
)

// ErrCorrupt is wrapped by every decode failure: a truncated record, an
// unknown format byte, an out-of-range field or trailing garbage.
var ErrCorrupt = errors.New("corrupt record")

// CorruptError reports a stored record that failed to decode. It wraps
// ErrCorrupt. Iteration stops with it unless Options.SkipCorrupt is set.
type CorruptError struct {
	Record string // "session", "message" or "retained"
	Key    string // quoted client id or topic, or the message seq
	Err    error  // wraps ErrCorrupt
}

func (e *CorruptError) Error() string { return fmt.Sprintf("%s %s: %v", e.Record, e.Key, e.Err) }

func (e *CorruptError) Unwrap() error { return e.Err }

// ErrInvalid is returned by a write whose record could not be read back:
// a QoS, state or retain handling out of range.
var ErrInvalid = errors.New("invalid record")

// validMessage checks what decodeMessage would refuse.
func validMessage(m *Message) error {
	switch {
	case m.QoS > 2:
		return fmt.Errorf("%w: qos %d", ErrInvalid, m.QoS)
	case m.State > StateReleased:
		return fmt.Errorf("%w: state %d", ErrInvalid, m.State)
	}
	return nil
}

// validSubscription checks what decodeSubscription would refuse.
func validSubscription(sub *Subscription) error {
	if sub.Filter == "" {
		return fmt.Errorf("subscription filter: %w", ErrEmptyKey)
	}
	if sub.QoS > 2 || sub.RetainHandling > 2 {
		return fmt.Errorf("%w: subscription %q qos %d retain handling %d", ErrInvalid, sub.Filter, sub.QoS, sub.RetainHandling)
	}
	return nil
}

// validSession checks what decodeSession would refuse.
func validSession(s *Session) error {
	for i := range s.Subscriptions {
		if err := validSubscription(&s.Subscriptions[i]); err != nil {
			return err
		}
	}
	if s.Will != nil {
		if err := validMessage(s.Will); err != nil {
			return fmt.Errorf("will: %w", err)
		}
	}
	return nil
}

// Message flag bits.
const (
	msgRetain           = 1 << 0
	msgPayloadFormatSet = 1 << 1
	msgExpirySet        = 1 << 2
	msgExpiresAt        = 1 << 3
	msgStoredAt         = 1 << 4
)

// Session flag bits.
const (
	sessDisconnectedAt = 1 << 0
	sessWill           = 1 << 1
	sessWillAt         = 1 << 2
)

// Subscription flag bits.
const (
	subNoLocal           = 1 << 0
	subRetainAsPublished = 1 << 1
)

// --- encoding -------------------------------------------------------------

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// appendTime writes t as signed varint seconds since the Unix epoch and
// uvarint nanoseconds (0-999999999), which covers every time.Time (UnixNano
// would overflow outside 1678-2262). The caller records presence in a flag
// bit.
func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// appendMessage appends the v1 encoding of m:
//
//	format(1) flags(1) qos(1) state(1) packetID(uvarint)
//	topic(str) payload(bytes)
//	[payloadFormat(1)] [messageExpiry(uvarint)]
//	contentType(str) responseTopic(str) correlationData(bytes)
//	nUser(uvarint) {key(str) value(str)}...
//	nSubIDs(uvarint) {id(uvarint)}...
//	[expiresAt(time)] [storedAt(time)]
//
// str and bytes are a uvarint length followed by the raw bytes. Bracketed
// fields are present only when their flag bit is set. time is varint Unix
// seconds then uvarint nanoseconds.
func appendMessage(b []byte, m *Message) []byte {
	var flags byte
	p := &m.Props
	if m.Retain {
		flags |= msgRetain
	}
	if p.PayloadFormatSet {
		flags |= msgPayloadFormatSet
	}
	if p.MessageExpirySet {
		flags |= msgExpirySet
	}
	if !m.ExpiresAt.IsZero() {
		flags |= msgExpiresAt
	}
	if !m.StoredAt.IsZero() {
		flags |= msgStoredAt
	}
	b = append(b, messageFormatV1, flags, m.QoS, m.State)
	b = appendUvarint(b, uint64(m.PacketID))
	b = appendString(b, m.Topic)
	b = appendBytes(b, m.Payload)
	if p.PayloadFormatSet {
		b = append(b, p.PayloadFormat)
	}
	if p.MessageExpirySet {
		b = appendUvarint(b, uint64(p.MessageExpiry))
	}
	b = appendString(b, p.ContentType)
	b = appendString(b, p.ResponseTopic)
	b = appendBytes(b, p.CorrelationData)
	b = appendUvarint(b, uint64(len(p.User)))
	for _, u := range p.User {
		b = appendString(b, u.Key)
		b = appendString(b, u.Value)
	}
	b = appendUvarint(b, uint64(len(p.SubscriptionIDs)))
	for _, id := range p.SubscriptionIDs {
		b = appendUvarint(b, uint64(id))
	}
	if flags&msgExpiresAt != 0 {
		b = appendTime(b, m.ExpiresAt)
	}
	if flags&msgStoredAt != 0 {
		b = appendTime(b, m.StoredAt)
	}
	return b
}

// appendSessionRecord appends the v2 encoding of s, which leaves out its
// Subscriptions (each is a record of its own, appendSubscription):
//
//	format(1)=2 flags(1) version(1)
//	clientID(str) username(str) expiryInterval(uvarint)
//	[disconnectedAt(time)]
//	nQoS2(uvarint) {packetID(uvarint)}...
//	[will(bytes: a nested message record)] [willAt(time)]
//
// Format 1 (still decoded) had nSubs(uvarint) {subscription body}... right
// before nQoS2.
func appendSessionRecord(b []byte, s *Session) []byte {
	return appendSessionFormat(b, s, sessionFormatV2)
}

func appendSessionFormat(b []byte, s *Session, format byte) []byte {
	var flags byte
	if !s.DisconnectedAt.IsZero() {
		flags |= sessDisconnectedAt
	}
	if s.Will != nil {
		flags |= sessWill
	}
	if !s.WillAt.IsZero() {
		flags |= sessWillAt
	}
	b = append(b, format, flags, s.Version)
	b = appendString(b, s.ClientID)
	b = appendString(b, s.Username)
	b = appendUvarint(b, uint64(s.ExpiryInterval))
	if flags&sessDisconnectedAt != 0 {
		b = appendTime(b, s.DisconnectedAt)
	}
	if format == sessionFormatV1 {
		b = appendUvarint(b, uint64(len(s.Subscriptions)))
		for i := range s.Subscriptions {
			b = appendSubscriptionBody(b, &s.Subscriptions[i])
		}
	}
	b = appendUvarint(b, uint64(len(s.InboundQoS2)))
	for _, id := range s.InboundQoS2 {
		b = appendUvarint(b, uint64(id))
	}
	if s.Will != nil {
		// Length-prefixed so the will's format can evolve on its own.
		lenAt := len(b)
		b = append(b, 0, 0, 0, 0, 0) // room for a 5-byte uvarint length
		start := len(b)
		b = appendMessage(b, s.Will)
		n := len(b) - start
		var tmp [binary.MaxVarintLen64]byte
		k := binary.PutUvarint(tmp[:], uint64(n))
		// Close the gap left by the reserved bytes.
		copy(b[lenAt:], tmp[:k])
		copy(b[lenAt+k:], b[start:])
		b = b[:lenAt+k+n]
	}
	if flags&sessWillAt != 0 {
		b = appendTime(b, s.WillAt)
	}
	return b
}

// appendSubscriptionBody appends
//
//	filter(str) qos(1) subFlags(1) retainHandling(1) id(uvarint)
//
// the part of a subscription shared by session format 1 and subscription
// records.
func appendSubscriptionBody(b []byte, sub *Subscription) []byte {
	var sf byte
	if sub.NoLocal {
		sf |= subNoLocal
	}
	if sub.RetainAsPublished {
		sf |= subRetainAsPublished
	}
	b = appendString(b, sub.Filter)
	b = append(b, sub.QoS, sf, sub.RetainHandling)
	return appendUvarint(b, uint64(sub.ID))
}

// appendSubscription appends a subscription record, the value of
// subscriptions/<client id>/<filter>:
//
//	format(1)=1 seq(uvarint) filter(str) qos(1) subFlags(1) retainHandling(1) id(uvarint)
//
// seq orders a session's subscriptions as they were first stored.
func appendSubscription(b []byte, seq uint64, body []byte) []byte {
	b = append(b, subscriptionFormatV1)
	b = appendUvarint(b, seq)
	return append(b, body...)
}

// --- decoding -------------------------------------------------------------

// reader consumes a record. The first failure sticks in err; later reads
// return zero values, so decoders check err once at the end of a section.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	r.b = nil
}

func (r *reader) byte(what string) byte {
	if len(r.b) < 1 {
		r.fail("truncated at %s", what)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uvarint(what string, max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint at %s", what)
		return 0
	}
	if v > max {
		r.fail("%s %d out of range", what, v)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) time(what string) time.Time {
	if r.err != nil {
		return time.Time{}
	}
	sec, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint at %s", what)
		return time.Time{}
	}
	r.b = r.b[n:]
	nsec, n := binary.Uvarint(r.b)
	if n <= 0 || nsec > 999_999_999 {
		r.fail("bad nanoseconds at %s", what)
		return time.Time{}
	}
	r.b = r.b[n:]
	return time.Unix(sec, int64(nsec))
}

// raw returns the next length-prefixed field, aliasing the record.
func (r *reader) raw(what string) []byte {
	if r.err != nil {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.fail("bad length at %s", what)
		return nil
	}
	r.b = r.b[k:]
	if uint64(len(r.b)) < n {
		r.fail("truncated at %s", what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string(what string) string { return string(r.raw(what)) }

// bytes returns a copy of the next length-prefixed field; empty is nil.
func (r *reader) bytes(what string) []byte {
	v := r.raw(what)
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// count reads an element count and checks that at least minSize bytes per
// element remain, so garbage cannot make the decoder allocate gigabytes.
func (r *reader) count(what string, minSize int) int {
	n := r.uvarint(what, math.MaxInt32)
	if r.err != nil {
		return 0
	}
	if n > uint64(len(r.b)/minSize) {
		r.fail("%s %d exceeds record", what, n)
		return 0
	}
	return int(n)
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

// decodeMessage decodes a record written by appendMessage. The result shares
// no memory with b.
func decodeMessage(b []byte) (*Message, error) {
	r := reader{b: b}
	m := new(Message)
	readMessage(&r, m)
	if err := r.end(); err != nil {
		return nil, err
	}
	return m, nil
}

func readMessage(r *reader, m *Message) {
	if f := r.byte("format"); r.err == nil && f != messageFormatV1 {
		r.fail("unknown message format %d", f)
		return
	}
	flags := r.byte("flags")
	if flags&^(msgRetain|msgPayloadFormatSet|msgExpirySet|msgExpiresAt|msgStoredAt) != 0 {
		r.fail("unknown message flags %#x", flags)
		return
	}
	m.QoS = r.byte("qos")
	if m.QoS > 2 {
		r.fail("qos %d out of range", m.QoS)
		return
	}
	m.State = r.byte("state")
	if m.State > StateReleased {
		r.fail("state %d out of range", m.State)
		return
	}
	m.PacketID = uint16(r.uvarint("packet id", math.MaxUint16))
	m.Retain = flags&msgRetain != 0
	m.Topic = r.string("topic")
	m.Payload = r.bytes("payload")
	p := &m.Props
	if flags&msgPayloadFormatSet != 0 {
		p.PayloadFormatSet = true
		p.PayloadFormat = r.byte("payload format")
	}
	if flags&msgExpirySet != 0 {
		p.MessageExpirySet = true
		p.MessageExpiry = uint32(r.uvarint("message expiry", math.MaxUint32))
	}
	p.ContentType = r.string("content type")
	p.ResponseTopic = r.string("response topic")
	p.CorrelationData = r.bytes("correlation data")
	if n := r.count("user property count", 2); n > 0 {
		p.User = make([]packets.UserProperty, n)
		for i := range p.User {
			p.User[i].Key = r.string("user property key")
			p.User[i].Value = r.string("user property value")
		}
	}
	if n := r.count("subscription id count", 1); n > 0 {
		p.SubscriptionIDs = make([]uint32, n)
		for i := range p.SubscriptionIDs {
			p.SubscriptionIDs[i] = uint32(r.uvarint("subscription id", math.MaxUint32))
		}
	}
	if flags&msgExpiresAt != 0 {
		m.ExpiresAt = r.time("expires at")
	}
	if flags&msgStoredAt != 0 {
		m.StoredAt = r.time("stored at")
	}
}

// decodeSession decodes a session record of format 2 (appendSessionRecord)
// or 1 (with its subscriptions inside). The result shares no memory with b.
func decodeSession(b []byte) (*Session, error) {
	r := reader{b: b}
	s := new(Session)
	f := r.byte("format")
	if r.err == nil && f != sessionFormatV1 && f != sessionFormatV2 {
		r.fail("unknown session format %d", f)
		return nil, r.err
	}
	flags := r.byte("flags")
	if flags&^(sessDisconnectedAt|sessWill|sessWillAt) != 0 {
		r.fail("unknown session flags %#x", flags)
		return nil, r.err
	}
	s.Version = r.byte("version")
	s.ClientID = r.string("client id")
	s.Username = r.string("username")
	s.ExpiryInterval = uint32(r.uvarint("expiry interval", math.MaxUint32))
	if flags&sessDisconnectedAt != 0 {
		s.DisconnectedAt = r.time("disconnected at")
	}
	// A subscription is at least 5 bytes: empty filter, qos, flags, rh, id.
	if f == sessionFormatV1 {
		if n := r.count("subscription count", 5); n > 0 {
			s.Subscriptions = make([]Subscription, n)
			for i := range s.Subscriptions {
				if readSubscription(&r, &s.Subscriptions[i]); r.err != nil {
					return nil, r.err
				}
			}
		}
	}
	if n := r.count("qos2 id count", 1); n > 0 {
		s.InboundQoS2 = make([]uint16, n)
		for i := range s.InboundQoS2 {
			s.InboundQoS2[i] = uint16(r.uvarint("qos2 id", math.MaxUint16))
		}
	}
	if flags&sessWill != 0 {
		wr := reader{b: r.raw("will")}
		if r.err != nil {
			return nil, r.err
		}
		s.Will = new(Message)
		readMessage(&wr, s.Will)
		if err := wr.end(); err != nil {
			return nil, fmt.Errorf("will: %w", err)
		}
	}
	if flags&sessWillAt != 0 {
		s.WillAt = r.time("will at")
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return s, nil
}

// readSubscription reads a subscription body (appendSubscriptionBody).
func readSubscription(r *reader, sub *Subscription) {
	sub.Filter = r.string("filter")
	sub.QoS = r.byte("subscription qos")
	sf := r.byte("subscription flags")
	sub.RetainHandling = r.byte("retain handling")
	sub.ID = uint32(r.uvarint("subscription id", math.MaxUint32))
	if r.err != nil {
		return
	}
	if sub.QoS > 2 || sub.RetainHandling > 2 || sf&^(subNoLocal|subRetainAsPublished) != 0 {
		r.fail("subscription %q out of range", sub.Filter)
		return
	}
	sub.NoLocal = sf&subNoLocal != 0
	sub.RetainAsPublished = sf&subRetainAsPublished != 0
}

// decodeSubscription decodes a subscription record (appendSubscription).
func decodeSubscription(b []byte) (seq uint64, sub Subscription, err error) {
	r := reader{b: b}
	if f := r.byte("format"); r.err == nil && f != subscriptionFormatV1 {
		r.fail("unknown subscription format %d", f)
	}
	seq = r.uvarint("seq", math.MaxUint64)
	readSubscription(&r, &sub)
	if err := r.end(); err != nil {
		return 0, Subscription{}, err
	}
	return seq, sub, nil
}

// subscriptionSeq returns the seq of a stored subscription record, ok false
// when it does not decode.
func subscriptionSeq(b []byte) (uint64, bool) {
	if len(b) < 2 || b[0] != subscriptionFormatV1 {
		return 0, false
	}
	seq, n := binary.Uvarint(b[1:])
	return seq, n > 0
}
