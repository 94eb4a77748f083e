package packets

import (
	"encoding/binary"
	"unsafe"
)

// Decode parses a packet whose fixed header first byte and body (the
// remaining-length bytes) are given. The packet may alias body: its byte
// slices (Payload, Password, CorrelationData, ...) point into body, while its
// strings are copies.
//
// For CONNECT with an unsupported protocol level (a known name with an
// unknown level, or a name/level pair that does not match), Decode returns the
// partially filled packet (ProtocolVersion and ProtocolName set) together
// with an error whose Code is UnsupportedProtocolVersion, so the server can
// answer with the right CONNACK. [MQTT-3.1.2-2] A protocol name that is
// neither "MQTT" nor "MQIsdp" gives ProtocolError (and the partial packet);
// the server may just close the connection. [MQTT-3.1.2-1]
func Decode(first byte, body []byte, version Version) (*Packet, error) {
	if err := checkFixedHeader(first, version); err != nil {
		return nil, err
	}
	if len(body) > maxRemainingLength {
		return nil, Errorf(MalformedPacket, "remaining length %d exceeds %d", len(body), maxRemainingLength) // §1.5.5
	}
	p := new(Packet)
	d := decoder{b: body}
	if err := d.packet(p, first, version); err != nil {
		if d.partial {
			return p, err
		}
		return nil, err
	}
	return p, nil
}

// decoder walks a packet body. When owned is set the body belongs to the
// packet alone (Read allocated it and nobody else holds it), so strings may
// share its memory instead of being copied.
type decoder struct {
	b     []byte
	pos   int
	owned bool
	// partial is set with the error of a CONNECT whose protocol name or
	// level is refused: the caller gets the partial packet too.
	partial bool
}

// packet decodes the body into p according to the type in first. The fixed
// header has already been checked by checkFixedHeader.
func (d *decoder) packet(p *Packet, first byte, v Version) error {
	p.Type = Type(first >> 4)
	var err error
	switch p.Type {
	case CONNECT:
		err = d.connect(p)
	case CONNACK:
		err = d.connack(p, v)
	case PUBLISH:
		err = d.publish(p, first, v)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		err = d.ack(p, v)
	case SUBSCRIBE:
		err = d.subscribe(p, v)
	case SUBACK, UNSUBACK:
		err = d.suback(p, v)
	case UNSUBSCRIBE:
		err = d.unsubscribe(p, v)
	case PINGREQ, PINGRESP:
		// no variable header, no payload §3.12.1 §3.13.1
	case DISCONNECT:
		err = d.disconnect(p, v)
	case AUTH:
		err = d.auth(p)
	default:
		err = Errorf(MalformedPacket, "reserved packet type %d", p.Type)
	}
	if err != nil {
		return err
	}
	if d.pos != len(d.b) {
		return Errorf(MalformedPacket, "%s has %d unexpected trailing bytes", p.Type, len(d.b)-d.pos)
	}
	return nil
}

func (d *decoder) remaining() int { return len(d.b) - d.pos }

func truncated(what string) error { return Errorf(MalformedPacket, "truncated %s", what) }

func (d *decoder) u8(what string) (byte, error) {
	if d.pos >= len(d.b) {
		return 0, truncated(what)
	}
	c := d.b[d.pos]
	d.pos++
	return c, nil
}

func (d *decoder) u16(what string) (uint16, error) {
	if d.remaining() < 2 {
		return 0, truncated(what)
	}
	v := binary.BigEndian.Uint16(d.b[d.pos:])
	d.pos += 2
	return v, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	if d.remaining() < 4 {
		return 0, truncated(what)
	}
	v := binary.BigEndian.Uint32(d.b[d.pos:])
	d.pos += 4
	return v, nil
}

func (d *decoder) varInt() (uint32, error) {
	v, n, err := parseVarInt(d.b[d.pos:])
	d.pos += n
	return v, err
}

// bin reads Binary Data: a two-byte length and that many bytes, which alias
// the body. An empty field gives a non-nil empty slice. §1.5.6
func (d *decoder) bin(what string) ([]byte, error) {
	n, err := d.u16(what)
	if err != nil {
		return nil, err
	}
	if d.remaining() < int(n) {
		return nil, truncated(what)
	}
	b := d.b[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

// str reads a UTF-8 Encoded String and checks it. [MQTT-1.5.4-1]
// [MQTT-1.5.4-2]
func (d *decoder) str(what string) (string, error) {
	b, err := d.bin(what)
	if err != nil {
		return "", err
	}
	if !ValidUTF8(b) {
		return "", Errorf(MalformedPacket, "%s is not valid UTF-8 or contains U+0000", what)
	}
	if len(b) == 0 {
		return "", nil
	}
	if d.owned {
		// The body is private to the packet and never written again.
		return unsafe.String(&b[0], len(b)), nil
	}
	return string(b), nil
}

// packetID reads a Packet Identifier, which must be non-zero. [MQTT-2.2.1-3]
func (d *decoder) packetID(t Type) (uint16, error) {
	id, err := d.u16("packet identifier")
	if err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, Errorf(ProtocolError, "%s with packet identifier 0", t) // [MQTT-2.2.1-3]
	}
	return id, nil
}
