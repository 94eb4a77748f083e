package packets

// sizes is the result of the sizing pass of the encoder: the remaining length
// and the lengths of the property blocks, so they are computed once.
type sizes struct {
	body  int // remaining length
	props int // packet properties, without their length prefix
	will  int // CONNECT will properties, without their length prefix
}

// Encode appends the wire form of p for the given version to dst. It fails
// (with a reason-code error) on a packet that breaks a rule the encoder can
// see, e.g. a property not allowed on that packet type; dst is then returned
// unchanged. For v3 the Properties are ignored. A CONNECT is encoded with its
// own Connect.ProtocolVersion when set. Encode does not allocate when dst has
// room for the packet.
func Encode(dst []byte, p *Packet, version Version) ([]byte, error) {
	v := version
	if p.Type == CONNECT {
		v = connectVersion(p, version)
	}
	s, err := bodySize(p, v)
	if err != nil {
		return dst, err
	}
	dst = append(dst, firstByte(p))
	dst = appendVarInt(dst, uint32(s.body))
	switch p.Type {
	case CONNECT:
		dst = appendConnect(dst, p, v, s)
	case CONNACK:
		dst = appendConnack(dst, p, v, s)
	case PUBLISH:
		dst = appendPublish(dst, p, v, s)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		dst = appendAck(dst, p, v, s)
	case SUBSCRIBE, UNSUBSCRIBE:
		dst = appendSubscribe(dst, p, v, s)
	case SUBACK, UNSUBACK:
		dst = appendSuback(dst, p, v, s)
	case DISCONNECT, AUTH:
		dst = appendDisconnectAuth(dst, p, s)
	}
	return dst, nil
}

// Size is the number of bytes Encode(nil, p, v) would produce, fixed header
// included, or -1 when Encode would fail. The broker uses it to honour a
// client's Maximum Packet Size before encoding. [MQTT-3.1.2-24]
func Size(p *Packet, v Version) int {
	if p.Type == CONNECT {
		v = connectVersion(p, v)
	}
	s, err := bodySize(p, v)
	if err != nil {
		return -1
	}
	return 1 + varIntLen(uint32(s.body)) + s.body
}

// bodySize validates p for encoding and computes its remaining length.
func bodySize(p *Packet, v Version) (s sizes, err error) {
	switch p.Type {
	case CONNECT:
		s, err = connectSize(p, v)
	case CONNACK:
		s, err = connackSize(p, v)
	case PUBLISH:
		s, err = publishSize(p, v)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		if p.PacketID == 0 {
			return s, Errorf(ProtocolError, "%s with packet identifier 0", p.Type) // [MQTT-2.2.1-3]
		}
		s, err = ackSize(p, v)
	case SUBSCRIBE, UNSUBSCRIBE:
		s, err = subscribeSize(p, v)
	case SUBACK, UNSUBACK:
		s, err = subackSize(p, v)
	case PINGREQ, PINGRESP:
	case DISCONNECT:
		s, err = disconnectAuthSize(p, v)
	case AUTH:
		if v != V5 {
			return s, Errorf(ProtocolError, "AUTH requires MQTT 5")
		}
		s, err = disconnectAuthSize(p, v)
	default:
		return s, Errorf(MalformedPacket, "cannot encode packet type %d", p.Type)
	}
	if err == nil && s.body > maxRemainingLength {
		err = Errorf(PacketTooLarge, "%s remaining length %d exceeds %d", p.Type, s.body, maxRemainingLength) // §1.5.5
	}
	return s, err
}
