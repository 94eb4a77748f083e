package packets

import (
	"bytes"
	"testing"
)

// specAllowed is the spec's table of which packets may carry each property
// §2.2.2.2, written out again here to check propTable against it.
// willProps stands for the Will Properties of CONNECT.
var specAllowed = map[byte][]Type{
	0x01: {PUBLISH, willProps},
	0x02: {PUBLISH, willProps},
	0x03: {PUBLISH, willProps},
	0x08: {PUBLISH, willProps},
	0x09: {PUBLISH, willProps},
	0x0B: {PUBLISH, SUBSCRIBE},
	0x11: {CONNECT, CONNACK, DISCONNECT},
	0x12: {CONNACK},
	0x13: {CONNACK},
	0x15: {CONNECT, CONNACK, AUTH},
	0x16: {CONNECT, CONNACK, AUTH},
	0x17: {CONNECT},
	0x18: {willProps},
	0x19: {CONNECT},
	0x1A: {CONNACK},
	0x1C: {CONNACK, DISCONNECT},
	0x1F: {CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH},
	0x21: {CONNECT, CONNACK},
	0x22: {CONNECT, CONNACK},
	0x23: {PUBLISH},
	0x24: {CONNACK},
	0x25: {CONNACK},
	0x26: {CONNECT, CONNACK, PUBLISH, willProps, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH},
	0x27: {CONNECT, CONNACK},
	0x28: {CONNACK},
	0x29: {CONNACK},
	0x2A: {CONNACK},
}

// propValue is a valid encoded value for each property type.
func propValue(id byte) []byte {
	switch propTable[id].kind {
	case kindByte:
		return []byte{0x01}
	case kindU16:
		return []byte{0x00, 0x01}
	case kindU32:
		return []byte{0x00, 0x00, 0x00, 0x01}
	case kindVarInt:
		return []byte{0x01}
	case kindString:
		return []byte{0x00, 0x01, 'x'}
	case kindBinary:
		return []byte{0x00, 0x01, 0x00}
	case kindPair:
		return []byte{0x00, 0x01, 'k', 0x00, 0x01, 'v'}
	}
	panic("unknown property")
}

// withProps builds a v5 packet of type ctx (or a CONNECT whose will
// properties are props) in the encoder's own form.
func withProps(ctx Type, props []byte) []byte {
	pl := append([]byte{byte(len(props))}, props...)
	var first byte = byte(ctx) << 4
	var body []byte
	switch ctx {
	case willProps:
		first = 0x10
		body = append([]byte{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 'c'}, pl...)
		body = append(body, 0x00, 0x01, 'w', 0x00, 0x00)
	case CONNECT:
		body = append([]byte{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x00}, pl...)
		body = append(body, 0x00, 0x01, 'c')
	case CONNACK:
		body = append([]byte{0x00, 0x00}, pl...)
	case PUBLISH:
		body = append([]byte{0x00, 0x01, 't'}, pl...)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		body = append([]byte{0x00, 0x01, 0x00}, pl...)
	case SUBSCRIBE:
		body = append(append([]byte{0x00, 0x01}, pl...), 0x00, 0x01, 'a', 0x00)
	case UNSUBSCRIBE:
		body = append(append([]byte{0x00, 0x01}, pl...), 0x00, 0x01, 'a')
	case SUBACK, UNSUBACK:
		body = append(append([]byte{0x00, 0x01}, pl...), 0x00)
	case DISCONNECT, AUTH:
		body = append([]byte{0x00}, pl...)
	}
	first |= fixedFlags[first>>4]
	return append([]byte{first, byte(len(body))}, body...)
}

// TestPropertyAllowedTable puts every property in every packet and checks
// that Decode accepts exactly the combinations of the spec, and that Encode
// gives the same bytes back for those.
func TestPropertyAllowedTable(t *testing.T) {
	ctxs := []Type{willProps, CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP,
		SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH}
	for id := byte(0); id < byte(len(propTable)); id++ {
		if propTable[id].kind == 0 {
			if _, ok := specAllowed[id]; ok {
				t.Errorf("property 0x%02X missing from propTable", id)
			}
			continue
		}
		allowed := map[Type]bool{}
		for _, c := range specAllowed[id] {
			allowed[c] = true
		}
		for _, ctx := range ctxs {
			props := append([]byte{id}, propValue(id)...)
			if id == propAuthData {
				// Authentication Data needs an Authentication Method.
				props = append([]byte{propAuthMethod, 0x00, 0x01, 'm'}, props...)
			}
			raw := withProps(ctx, props)
			p, err := readOne(t, raw, V5)
			if allowed[ctx] != (err == nil) {
				t.Errorf("%s in %s: Read = %v; want allowed=%v", propTable[id].name, ctxName(ctx), err, allowed[ctx])
				continue
			}
			if err != nil {
				if Code(err) != ProtocolError {
					t.Errorf("%s in %s: code %v; want ProtocolError", propTable[id].name, ctxName(ctx), Code(err))
				}
				continue
			}
			enc, err := Encode(nil, p, V5)
			if err != nil || !bytes.Equal(enc, raw) {
				t.Errorf("%s in %s: Encode = % X, %v; want % X", propTable[id].name, ctxName(ctx), enc, err, raw)
			}
		}
	}
}
