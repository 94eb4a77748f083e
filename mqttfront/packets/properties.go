package packets

import "encoding/binary"

// Property identifiers. §2.2.2.2
const (
	propPayloadFormat        = 0x01
	propMessageExpiry        = 0x02
	propContentType          = 0x03
	propResponseTopic        = 0x08
	propCorrelationData      = 0x09
	propSubscriptionID       = 0x0B
	propSessionExpiry        = 0x11
	propAssignedClientID     = 0x12
	propServerKeepAlive      = 0x13
	propAuthMethod           = 0x15
	propAuthData             = 0x16
	propRequestProblemInfo   = 0x17
	propWillDelay            = 0x18
	propRequestResponseInfo  = 0x19
	propResponseInfo         = 0x1A
	propServerReference      = 0x1C
	propReasonString         = 0x1F
	propReceiveMaximum       = 0x21
	propTopicAliasMaximum    = 0x22
	propTopicAlias           = 0x23
	propMaximumQoS           = 0x24
	propRetainAvailable      = 0x25
	propUser                 = 0x26
	propMaximumPacketSize    = 0x27
	propWildcardSubAvailable = 0x28
	propSubIDAvailable       = 0x29
	propSharedSubAvailable   = 0x2A
)

// willProps is the property context of the Will Properties of CONNECT. It
// reuses the Reserved type value, which no real packet has.
const willProps = Reserved

type propKind byte

const (
	kindByte propKind = iota + 1
	kindU16
	kindU32
	kindVarInt
	kindString
	kindBinary
	kindPair
)

type propInfo struct {
	name    string
	kind    propKind
	allowed uint32 // bit t set: allowed in packet type t (bit 0: will properties)
}

func in(ts ...Type) uint32 {
	var m uint32
	for _, t := range ts {
		m |= 1 << t
	}
	return m
}

// propTable says, for each property, its name, data type and the packets
// that may carry it. §2.2.2.2 Anything else is refused.
var propTable = [...]propInfo{
	propPayloadFormat:        {"payload format indicator", kindByte, in(PUBLISH, willProps)},
	propMessageExpiry:        {"message expiry interval", kindU32, in(PUBLISH, willProps)},
	propContentType:          {"content type", kindString, in(PUBLISH, willProps)},
	propResponseTopic:        {"response topic", kindString, in(PUBLISH, willProps)},
	propCorrelationData:      {"correlation data", kindBinary, in(PUBLISH, willProps)},
	propSubscriptionID:       {"subscription identifier", kindVarInt, in(PUBLISH, SUBSCRIBE)},
	propSessionExpiry:        {"session expiry interval", kindU32, in(CONNECT, CONNACK, DISCONNECT)},
	propAssignedClientID:     {"assigned client identifier", kindString, in(CONNACK)},
	propServerKeepAlive:      {"server keep alive", kindU16, in(CONNACK)},
	propAuthMethod:           {"authentication method", kindString, in(CONNECT, CONNACK, AUTH)},
	propAuthData:             {"authentication data", kindBinary, in(CONNECT, CONNACK, AUTH)},
	propRequestProblemInfo:   {"request problem information", kindByte, in(CONNECT)},
	propWillDelay:            {"will delay interval", kindU32, in(willProps)},
	propRequestResponseInfo:  {"request response information", kindByte, in(CONNECT)},
	propResponseInfo:         {"response information", kindString, in(CONNACK)},
	propServerReference:      {"server reference", kindString, in(CONNACK, DISCONNECT)},
	propReasonString:         {"reason string", kindString, in(CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH)},
	propReceiveMaximum:       {"receive maximum", kindU16, in(CONNECT, CONNACK)},
	propTopicAliasMaximum:    {"topic alias maximum", kindU16, in(CONNECT, CONNACK)},
	propTopicAlias:           {"topic alias", kindU16, in(PUBLISH)},
	propMaximumQoS:           {"maximum QoS", kindByte, in(CONNACK)},
	propRetainAvailable:      {"retain available", kindByte, in(CONNACK)},
	propUser:                 {"user property", kindPair, in(CONNECT, CONNACK, PUBLISH, willProps, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH)},
	propMaximumPacketSize:    {"maximum packet size", kindU32, in(CONNECT, CONNACK)},
	propWildcardSubAvailable: {"wildcard subscription available", kindByte, in(CONNACK)},
	propSubIDAvailable:       {"subscription identifier available", kindByte, in(CONNACK)},
	propSharedSubAvailable:   {"shared subscription available", kindByte, in(CONNACK)},
}

func ctxName(ctx Type) string {
	if ctx == willProps {
		return "will properties"
	}
	return ctx.String()
}

// properties decodes a property length and the properties that follow into
// p, checking each against the packet (ctx). §2.2.2
func (d *decoder) properties(p *Properties, ctx Type) error {
	n, err := d.varInt()
	if err != nil {
		return err
	}
	if int64(n) > int64(d.remaining()) {
		return Errorf(MalformedPacket, "%s property length %d exceeds the %d bytes left", ctxName(ctx), n, d.remaining())
	}
	end := d.pos + int(n)
	// Values are bounded by the property length, not just the body.
	pd := decoder{b: d.b[:end], pos: d.pos, owned: d.owned}
	var seen uint64
	for pd.pos < end {
		id, err := pd.varInt()
		if err != nil {
			return err
		}
		if id >= uint32(len(propTable)) || propTable[id].kind == 0 {
			return Errorf(MalformedPacket, "unknown property 0x%02X in %s", id, ctxName(ctx))
		}
		info := &propTable[id]
		if info.allowed&(1<<ctx) == 0 {
			return Errorf(ProtocolError, "%s not allowed in %s", info.name, ctxName(ctx))
		}
		if seen&(1<<id) != 0 && id != propUser && !(id == propSubscriptionID && ctx == PUBLISH) {
			return Errorf(ProtocolError, "%s included more than once in %s", info.name, ctxName(ctx)) // [MQTT-2.2.2-2]
		}
		seen |= 1 << id
		if err := pd.property(p, byte(id), info); err != nil {
			return err
		}
	}
	d.pos = end
	// Authentication Data without (or with an empty) Authentication Method is
	// a protocol error. §3.1.2.11.10 §3.15.2.2.3
	if p.AuthData != nil && p.AuthMethod == "" {
		return Errorf(ProtocolError, "authentication data without authentication method in %s", ctxName(ctx))
	}
	return nil
}

// property decodes the value of one property and stores it.
func (d *decoder) property(p *Properties, id byte, info *propInfo) error {
	var (
		b   byte
		u16 uint16
		u32 uint32
		s   string
		bin []byte
		err error
	)
	switch info.kind {
	case kindByte:
		b, err = d.u8(info.name)
		if err == nil && b > 1 {
			// Every byte property is a 0/1 flag (Maximum QoS: 0 or 1).
			err = Errorf(ProtocolError, "%s value %d, want 0 or 1", info.name, b)
		}
	case kindU16:
		u16, err = d.u16(info.name)
	case kindU32:
		u32, err = d.u32(info.name)
	case kindVarInt:
		u32, err = d.varInt()
	case kindString:
		s, err = d.str(info.name)
	case kindBinary:
		bin, err = d.bin(info.name)
	case kindPair:
		var k, v string
		if k, err = d.str("user property name"); err == nil {
			if v, err = d.str("user property value"); err == nil {
				p.User = append(p.User, UserProperty{Key: k, Value: v})
			}
		}
		return err
	}
	if err != nil {
		return err
	}
	switch id {
	case propPayloadFormat:
		p.PayloadFormat, p.PayloadFormatSet = b, true
	case propMessageExpiry:
		p.MessageExpiry, p.MessageExpirySet = u32, true
	case propContentType:
		p.ContentType = s
	case propResponseTopic:
		if err := ValidTopicName(s); err != nil {
			return Errorf(ProtocolError, "response topic: %v", err) // [MQTT-3.3.2-14]
		}
		p.ResponseTopic = s
	case propCorrelationData:
		p.CorrelationData = bin
	case propSubscriptionID:
		if u32 == 0 {
			return Errorf(ProtocolError, "subscription identifier 0") // §3.8.2.1.2
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, u32)
	case propSessionExpiry:
		p.SessionExpiry, p.SessionExpirySet = u32, true
	case propAssignedClientID:
		p.AssignedClientID = s
	case propServerKeepAlive:
		p.ServerKeepAlive, p.ServerKeepAliveSet = u16, true
	case propAuthMethod:
		p.AuthMethod = s
	case propAuthData:
		p.AuthData = bin
	case propRequestProblemInfo:
		p.RequestProblemInfo, p.RequestProblemInfoSet = b, true
	case propWillDelay:
		p.WillDelay = u32
	case propRequestResponseInfo:
		p.RequestResponseInfo, p.RequestResponseInfoSet = b, true
	case propResponseInfo:
		p.ResponseInfo = s
	case propServerReference:
		p.ServerReference = s
	case propReasonString:
		p.ReasonString = s
	case propReceiveMaximum:
		if u16 == 0 {
			return Errorf(ProtocolError, "receive maximum 0") // §3.1.2.11.3 §3.2.2.3.3
		}
		p.ReceiveMaximum = u16
	case propTopicAliasMaximum:
		p.TopicAliasMaximum = u16
	case propTopicAlias:
		if u16 == 0 {
			return Errorf(TopicAliasInvalid, "topic alias 0") // [MQTT-3.3.2-8]
		}
		p.TopicAlias = u16
	case propMaximumQoS:
		p.MaximumQoS, p.MaximumQoSSet = b, true
	case propRetainAvailable:
		p.RetainAvailable, p.RetainAvailableSet = b, true
	case propMaximumPacketSize:
		if u32 == 0 {
			return Errorf(ProtocolError, "maximum packet size 0") // §3.1.2.11.4 §3.2.2.3.6
		}
		p.MaximumPacketSize = u32
	case propWildcardSubAvailable:
		p.WildcardSubAvailable, p.WildcardSubAvailableSet = b, true
	case propSubIDAvailable:
		p.SubIDAvailable, p.SubIDAvailableSet = b, true
	case propSharedSubAvailable:
		p.SharedSubAvailable, p.SharedSubAvailableSet = b, true
	}
	return nil
}

// empty reports whether p holds no property the encoder would write; it
// keeps the common no-properties case off the full sizing pass.
func (p *Properties) empty() bool {
	return !p.PayloadFormatSet && !p.MessageExpirySet && p.ContentType == "" && p.ResponseTopic == "" &&
		p.CorrelationData == nil && len(p.SubscriptionIDs) == 0 && !p.SessionExpirySet &&
		p.AssignedClientID == "" && !p.ServerKeepAliveSet && p.AuthMethod == "" && p.AuthData == nil &&
		!p.RequestProblemInfoSet && p.WillDelay == 0 && !p.RequestResponseInfoSet && p.ResponseInfo == "" &&
		p.ServerReference == "" && p.ReasonString == "" && p.ReceiveMaximum == 0 &&
		p.TopicAliasMaximum == 0 && p.TopicAlias == 0 && !p.MaximumQoSSet && !p.RetainAvailableSet &&
		len(p.User) == 0 && p.MaximumPacketSize == 0 && !p.WildcardSubAvailableSet &&
		!p.SubIDAvailableSet && !p.SharedSubAvailableSet
}

// propSizer accumulates the encoded length of properties and the first
// problem found.
type propSizer struct {
	ctx Type
	n   int
	err error
}

func (s *propSizer) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *propSizer) add(id byte, size int) {
	if propTable[id].allowed&(1<<s.ctx) == 0 {
		s.fail(Errorf(ProtocolError, "%s not allowed in %s", propTable[id].name, ctxName(s.ctx)))
	}
	s.n += 1 + size
}

func (s *propSizer) flag(id byte, set bool, v byte) {
	if !set {
		return
	}
	if v > 1 {
		s.fail(Errorf(ProtocolError, "%s value %d, want 0 or 1", propTable[id].name, v))
	}
	s.add(id, 1)
}

func (s *propSizer) str(id byte, v string) {
	if v == "" {
		return
	}
	if len(v) > maxStringLen {
		s.fail(Errorf(MalformedPacket, "%s longer than %d bytes", propTable[id].name, maxStringLen))
	}
	s.add(id, 2+len(v))
}

func (s *propSizer) bin(id byte, v []byte) {
	if v == nil {
		return
	}
	if len(v) > maxStringLen {
		s.fail(Errorf(MalformedPacket, "%s longer than %d bytes", propTable[id].name, maxStringLen))
	}
	s.add(id, 2+len(v))
}

// propsSize validates p for the packet ctx and returns the length of its
// encoded properties, without the property length prefix.
func propsSize(p *Properties, ctx Type) (int, error) {
	if p.empty() {
		return 0, nil
	}
	s := propSizer{ctx: ctx}
	s.flag(propPayloadFormat, p.PayloadFormatSet, p.PayloadFormat)
	if p.MessageExpirySet {
		s.add(propMessageExpiry, 4)
	}
	s.str(propContentType, p.ContentType)
	s.str(propResponseTopic, p.ResponseTopic)
	s.bin(propCorrelationData, p.CorrelationData)
	if len(p.SubscriptionIDs) > 1 && ctx != PUBLISH {
		s.fail(Errorf(ProtocolError, "%d subscription identifiers in %s", len(p.SubscriptionIDs), ctxName(ctx)))
	}
	for _, id := range p.SubscriptionIDs {
		if id == 0 || id > maxRemainingLength {
			s.fail(Errorf(ProtocolError, "subscription identifier %d out of range", id))
		}
		s.add(propSubscriptionID, varIntLen(id))
	}
	if p.SessionExpirySet {
		s.add(propSessionExpiry, 4)
	}
	s.str(propAssignedClientID, p.AssignedClientID)
	if p.ServerKeepAliveSet {
		s.add(propServerKeepAlive, 2)
	}
	s.str(propAuthMethod, p.AuthMethod)
	s.bin(propAuthData, p.AuthData)
	if p.AuthData != nil && p.AuthMethod == "" {
		s.fail(Errorf(ProtocolError, "authentication data without authentication method"))
	}
	s.flag(propRequestProblemInfo, p.RequestProblemInfoSet, p.RequestProblemInfo)
	if p.WillDelay != 0 {
		s.add(propWillDelay, 4)
	}
	s.flag(propRequestResponseInfo, p.RequestResponseInfoSet, p.RequestResponseInfo)
	s.str(propResponseInfo, p.ResponseInfo)
	s.str(propServerReference, p.ServerReference)
	s.str(propReasonString, p.ReasonString)
	if p.ReceiveMaximum != 0 {
		s.add(propReceiveMaximum, 2)
	}
	if p.TopicAliasMaximum != 0 {
		s.add(propTopicAliasMaximum, 2)
	}
	if p.TopicAlias != 0 {
		s.add(propTopicAlias, 2)
	}
	s.flag(propMaximumQoS, p.MaximumQoSSet, p.MaximumQoS)
	s.flag(propRetainAvailable, p.RetainAvailableSet, p.RetainAvailable)
	for i := range p.User {
		u := &p.User[i]
		if len(u.Key) > maxStringLen || len(u.Value) > maxStringLen {
			s.fail(Errorf(MalformedPacket, "user property longer than %d bytes", maxStringLen))
		}
		s.add(propUser, 4+len(u.Key)+len(u.Value))
	}
	if p.MaximumPacketSize != 0 {
		s.add(propMaximumPacketSize, 4)
	}
	s.flag(propWildcardSubAvailable, p.WildcardSubAvailableSet, p.WildcardSubAvailable)
	s.flag(propSubIDAvailable, p.SubIDAvailableSet, p.SubIDAvailable)
	s.flag(propSharedSubAvailable, p.SharedSubAvailableSet, p.SharedSubAvailable)
	if s.n > maxRemainingLength {
		s.fail(Errorf(PacketTooLarge, "properties of %d bytes", s.n))
	}
	return s.n, s.err
}

// appendProps appends the property length n and the properties of p, in
// identifier order, with the user properties in their given order. n must
// come from propsSize, which also validated p.
func appendProps(dst []byte, p *Properties, n int) []byte {
	dst = appendVarInt(dst, uint32(n))
	if n == 0 {
		return dst
	}
	if p.PayloadFormatSet {
		dst = append(dst, propPayloadFormat, p.PayloadFormat)
	}
	if p.MessageExpirySet {
		dst = appendU32(append(dst, propMessageExpiry), p.MessageExpiry)
	}
	dst = appendStrProp(dst, propContentType, p.ContentType)
	dst = appendStrProp(dst, propResponseTopic, p.ResponseTopic)
	if p.CorrelationData != nil {
		dst = appendBinary(append(dst, propCorrelationData), p.CorrelationData)
	}
	for _, id := range p.SubscriptionIDs {
		dst = appendVarInt(append(dst, propSubscriptionID), id)
	}
	if p.SessionExpirySet {
		dst = appendU32(append(dst, propSessionExpiry), p.SessionExpiry)
	}
	dst = appendStrProp(dst, propAssignedClientID, p.AssignedClientID)
	if p.ServerKeepAliveSet {
		dst = appendU16(append(dst, propServerKeepAlive), p.ServerKeepAlive)
	}
	dst = appendStrProp(dst, propAuthMethod, p.AuthMethod)
	if p.AuthData != nil {
		dst = appendBinary(append(dst, propAuthData), p.AuthData)
	}
	if p.RequestProblemInfoSet {
		dst = append(dst, propRequestProblemInfo, p.RequestProblemInfo)
	}
	if p.WillDelay != 0 {
		dst = appendU32(append(dst, propWillDelay), p.WillDelay)
	}
	if p.RequestResponseInfoSet {
		dst = append(dst, propRequestResponseInfo, p.RequestResponseInfo)
	}
	dst = appendStrProp(dst, propResponseInfo, p.ResponseInfo)
	dst = appendStrProp(dst, propServerReference, p.ServerReference)
	dst = appendStrProp(dst, propReasonString, p.ReasonString)
	if p.ReceiveMaximum != 0 {
		dst = appendU16(append(dst, propReceiveMaximum), p.ReceiveMaximum)
	}
	if p.TopicAliasMaximum != 0 {
		dst = appendU16(append(dst, propTopicAliasMaximum), p.TopicAliasMaximum)
	}
	if p.TopicAlias != 0 {
		dst = appendU16(append(dst, propTopicAlias), p.TopicAlias)
	}
	if p.MaximumQoSSet {
		dst = append(dst, propMaximumQoS, p.MaximumQoS)
	}
	if p.RetainAvailableSet {
		dst = append(dst, propRetainAvailable, p.RetainAvailable)
	}
	for _, u := range p.User {
		dst = appendString(appendString(append(dst, propUser), u.Key), u.Value)
	}
	if p.MaximumPacketSize != 0 {
		dst = appendU32(append(dst, propMaximumPacketSize), p.MaximumPacketSize)
	}
	if p.WildcardSubAvailableSet {
		dst = append(dst, propWildcardSubAvailable, p.WildcardSubAvailable)
	}
	if p.SubIDAvailableSet {
		dst = append(dst, propSubIDAvailable, p.SubIDAvailable)
	}
	if p.SharedSubAvailableSet {
		dst = append(dst, propSharedSubAvailable, p.SharedSubAvailable)
	}
	return dst
}

func appendStrProp(dst []byte, id byte, s string) []byte {
	if s == "" {
		return dst
	}
	return appendString(append(dst, id), s)
}

func appendU16(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }
func appendU32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

// appendString appends a UTF-8 Encoded String; its length was checked by the
// size pass. §1.5.4
func appendString(dst []byte, s string) []byte {
	return append(appendU16(dst, uint16(len(s))), s...)
}

// appendBinary appends Binary Data. §1.5.6
func appendBinary(dst []byte, b []byte) []byte {
	return append(appendU16(dst, uint16(len(b))), b...)
}

// propsLenSize is the size of the property length prefix plus properties.
func propsLenSize(n int) int { return varIntLen(uint32(n)) + n }
