package packets

import (
	"errors"
	"testing"
)

// malformed is an input that must fail with code.
type malformed struct {
	name    string
	spec    string
	version Version
	raw     []byte
	code    ReasonCode
}

var malformedCases = []malformed{
	// Fixed header.
	{"reserved type 0", "§2.1.2", V311, []byte{0x00, 0x00}, MalformedPacket},
	{"auth in v3.1.1", "§2.1.2", V311, []byte{0xF0, 0x00}, MalformedPacket},
	{"puback flags 0001", "[MQTT-2.1.3-1]", V311, []byte{0x41, 0x02, 0x00, 0x01}, MalformedPacket},
	{"pubrel flags 0000", "[MQTT-3.6.1-1]", V311, []byte{0x60, 0x02, 0x00, 0x01}, MalformedPacket},
	{"subscribe flags 0000", "[MQTT-3.8.1-1]", V311, []byte{0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00}, MalformedPacket},
	{"unsubscribe flags 0011", "[MQTT-3.10.1-1]", V311, []byte{0xA3, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}, MalformedPacket},
	{"pingreq flags 1000", "[MQTT-2.1.3-1]", V311, []byte{0xC8, 0x00}, MalformedPacket},
	{"five byte remaining length", "§1.5.5", V311, []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, MalformedPacket},
	{"pingreq with a body", "§3.12", V311, []byte{0xC0, 0x01, 0x00}, MalformedPacket},
	{"disconnect v3 with a body", "§3.14", V311, []byte{0xE0, 0x01, 0x00}, MalformedPacket},

	// PUBLISH.
	{"publish qos 3", "[MQTT-3.3.1-4]", V311, []byte{0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}, MalformedPacket},
	{"publish dup at qos 0", "[MQTT-3.3.1-2]", V311, []byte{0x38, 0x03, 0x00, 0x01, 't'}, MalformedPacket},
	{"publish packet id 0", "[MQTT-2.2.1-3]", V311, []byte{0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00}, ProtocolError},
	{"publish truncated packet id", "§3.3.2", V311, []byte{0x32, 0x04, 0x00, 0x01, 't', 0x00}, MalformedPacket},
	{"publish topic longer than body", "§1.5.4", V311, []byte{0x30, 0x03, 0x00, 0x05, 'a'}, MalformedPacket},
	{"publish topic invalid UTF-8", "[MQTT-1.5.4-1]", V311, []byte{0x30, 0x04, 0x00, 0x02, 0xC3, 0x28}, MalformedPacket},
	{"publish topic U+0000", "[MQTT-1.5.4-2]", V311, []byte{0x30, 0x04, 0x00, 0x02, 'a', 0x00}, MalformedPacket},
	{"publish topic surrogate U+D800", "[MQTT-1.5.4-1]", V311, []byte{0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80}, MalformedPacket},
	{"publish topic overlong '/'", "[MQTT-1.5.4-1]", V311, []byte{0x30, 0x04, 0x00, 0x02, 0xC0, 0xAF}, MalformedPacket},
	{"publish topic wildcard", "[MQTT-3.3.2-2]", V311, []byte{0x30, 0x05, 0x00, 0x03, 'a', '/', '#'}, TopicNameInvalid},
	{"publish v3 empty topic", "[MQTT-4.7.3-1]", V311, []byte{0x30, 0x03, 0x00, 0x00, 'x'}, TopicNameInvalid},
	{"publish v5 empty topic without alias", "§3.3.2.1", V5, []byte{0x30, 0x03, 0x00, 0x00, 0x00}, ProtocolError},
	{"publish v5 topic alias 0", "[MQTT-3.3.2-8]", V5, []byte{0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00}, TopicAliasInvalid},
	{"publish v5 duplicate content type", "[MQTT-2.2.2-2]", V5,
		[]byte{0x30, 0x0A, 0x00, 0x01, 't', 0x06, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00}, ProtocolError},
	{"publish v5 session expiry not allowed", "§2.2.2.2", V5,
		[]byte{0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x11, 0x00, 0x00, 0x00, 0x01}, ProtocolError},
	{"publish v5 unknown property 0x04", "§2.2.2.2", V5, []byte{0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x04, 0x00}, MalformedPacket},
	{"publish v5 payload format 2", "§3.3.2.3.2", V5, []byte{0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x01, 0x02}, ProtocolError},
	{"publish v5 subscription identifier 0", "[MQTT-3.3.4-3]", V5, []byte{0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x0B, 0x00}, ProtocolError},
	{"publish v5 property length beyond body", "[MQTT-2.2.2-1]", V5, []byte{0x30, 0x05, 0x00, 0x01, 't', 0x09, 0x01}, MalformedPacket},
	{"publish v5 property value beyond property length", "[MQTT-2.2.2-1]", V5,
		[]byte{0x30, 0x0A, 0x00, 0x01, 't', 0x02, 0x02, 0x00, 0x00, 0x00, 0x01, 'x'}, MalformedPacket},
	{"publish v5 response topic wildcard", "[MQTT-3.3.2-14]", V5,
		[]byte{0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x08, 0x00, 0x02, 'a', '+'}, ProtocolError},
	{"publish v5 user property truncated", "§1.5.7", V5,
		[]byte{0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x26, 0x00, 0x01, 'k', 0x00}, MalformedPacket},

	// Acknowledgements.
	{"puback packet id 0", "[MQTT-2.2.1-3]", V311, []byte{0x40, 0x02, 0x00, 0x00}, ProtocolError},
	{"puback v3 with reason code", "§3.4.2", V311, []byte{0x40, 0x03, 0x00, 0x01, 0x00}, MalformedPacket},
	{"puback truncated", "§3.4.2", V311, []byte{0x40, 0x01, 0x00}, MalformedPacket},
	{"puback v5 reason 0x05", "§3.4.2.1", V5, []byte{0x40, 0x03, 0x00, 0x01, 0x05}, ProtocolError},
	{"pubrel v5 reason 0x10", "§3.6.2.1", V5, []byte{0x62, 0x03, 0x00, 0x01, 0x10}, ProtocolError},
	{"pubcomp v5 topic alias not allowed", "§2.2.2.2", V5,
		[]byte{0x70, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01}, ProtocolError},

	// SUBSCRIBE / UNSUBSCRIBE.
	{"subscribe without filters v3", "[MQTT-3.8.3-3]", V311, []byte{0x82, 0x02, 0x00, 0x01}, ProtocolError},
	{"subscribe without filters v5", "§3.8.3", V5, []byte{0x82, 0x03, 0x00, 0x01, 0x00}, ProtocolError},
	{"subscribe packet id 0", "[MQTT-2.2.1-3]", V311, []byte{0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00}, ProtocolError},
	{"subscribe v3 reserved option bits", "[MQTT-3-8.3-4] (sic, 3.1.1)", V311, []byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04}, MalformedPacket},
	{"subscribe qos 3", "[MQTT-3-8.3-4] (sic, 3.1.1)", V311, []byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03}, MalformedPacket},
	{"subscribe missing options byte", "§3.8.3", V311, []byte{0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'}, MalformedPacket},
	{"subscribe filter invalid UTF-8", "[MQTT-1.5.4-1]", V311, []byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xFF, 0x00}, MalformedPacket},
	{"subscribe v5 reserved option bits", "[MQTT-3.8.3-5]", V5, []byte{0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40}, MalformedPacket},
	{"subscribe v5 retain handling 3", "§3.8.3.1", V5, []byte{0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30}, ProtocolError},
	{"subscribe v5 no local on shared", "[MQTT-3.8.3-4]", V5,
		[]byte{0x82, 0x0F, 0x00, 0x01, 0x00, 0x00, 0x09, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 0x04}, ProtocolError},
	{"subscribe v5 two subscription identifiers", "[MQTT-2.2.2-2]", V5,
		[]byte{0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 'a', 0x00}, ProtocolError},
	{"unsubscribe without filters", "[MQTT-3.10.3-2]", V311, []byte{0xA2, 0x02, 0x00, 0x01}, ProtocolError},
	{"unsubscribe v5 subscription identifier not allowed", "§2.2.2.2", V5,
		[]byte{0xA2, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00, 0x01, 'a'}, ProtocolError},

	// SUBACK / UNSUBACK / CONNACK.
	{"suback v3 return code 3", "[MQTT-3.9.3-2]", V311, []byte{0x90, 0x03, 0x00, 0x01, 0x03}, ProtocolError},
	{"suback without codes", "[MQTT-3.9.3-1]", V311, []byte{0x90, 0x02, 0x00, 0x01}, ProtocolError},
	{"unsuback v3 with payload", "§3.11.2", V311, []byte{0xB0, 0x03, 0x00, 0x01, 0x00}, MalformedPacket},
	{"unsuback v5 reason 0x01", "§3.11.3", V5, []byte{0xB0, 0x04, 0x00, 0x01, 0x00, 0x01}, ProtocolError},
	{"connack reserved flags", "[MQTT-3.2.2-1]", V311, []byte{0x20, 0x02, 0x02, 0x00}, MalformedPacket},
	{"connack v3 return code 6", "§3.2.2.3", V311, []byte{0x20, 0x02, 0x00, 0x06}, ProtocolError},
	{"connack session present with error", "[MQTT-3.2.2-4]", V311, []byte{0x20, 0x02, 0x01, 0x05}, ProtocolError},
	{"connack v5 missing property length", "§3.2.2.3.1", V5, []byte{0x20, 0x02, 0x00, 0x00}, MalformedPacket},
	{"connack v5 maximum qos 2", "§3.2.2.3.4", V5, []byte{0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02}, ProtocolError},
	{"connack v5 maximum packet size 0", "§3.2.2.3.6", V5,
		[]byte{0x20, 0x08, 0x00, 0x00, 0x05, 0x27, 0x00, 0x00, 0x00, 0x00}, ProtocolError},

	// DISCONNECT / AUTH.
	{"disconnect v5 reason 0x10", "§3.14.2.1", V5, []byte{0xE0, 0x01, 0x10}, ProtocolError},
	{"disconnect v5 receive maximum not allowed", "§2.2.2.2", V5, []byte{0xE0, 0x05, 0x00, 0x03, 0x21, 0x00, 0x01}, ProtocolError},
	{"auth v5 reason 0x80", "§3.15.2.1", V5, []byte{0xF0, 0x01, 0x80}, ProtocolError},
	{"auth v5 data without method", "§3.15.2.2.3", V5, []byte{0xF0, 0x06, 0x18, 0x04, 0x16, 0x00, 0x01, 0x00}, ProtocolError},

	// CONNECT.
	{"connect unsupported level MQTT/6", "[MQTT-3.1.2-2]", V311,
		connectHead("MQTT", 6, 0x02), UnsupportedProtocolVersion},
	{"connect level 3 with name MQTT", "[MQTT-3.1.2-2]", V311,
		connectHead("MQTT", 3, 0x02), UnsupportedProtocolVersion},
	{"connect level 4 with name MQIsdp", "[MQTT-3.1.2-2]", V311,
		connectHead("MQIsdp", 4, 0x02), UnsupportedProtocolVersion},
	{"connect unknown protocol name", "[MQTT-3.1.2-1]", V311,
		connectHead("MQTX", 4, 0x02), ProtocolError},
	{"connect protocol name not UTF-8", "[MQTT-1.5.4-1]", V311,
		connectHead("MQ\xffT", 4, 0x02), MalformedPacket},
	{"connect reserved flag", "[MQTT-3.1.2-3]", V311, connectHead("MQTT", 4, 0x03), MalformedPacket},
	{"connect will qos without will flag", "[MQTT-3.1.2-11]", V311, connectHead("MQTT", 4, 0x0A), MalformedPacket},
	{"connect will retain without will flag", "[MQTT-3.1.2-13] [MQTT-3.1.2-15]", V311, connectHead("MQTT", 4, 0x22), MalformedPacket},
	{"connect will qos 3", "[MQTT-3.1.2-14]", V311, connectHead("MQTT", 4, 0x1E), MalformedPacket},
	{"connect v3 password without user name", "[MQTT-3.1.2-22]", V311, connectHead("MQTT", 4, 0x42), MalformedPacket},
	{"connect truncated keep alive", "§3.1.2.10", V311,
		[]byte{0x10, 0x09, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00}, MalformedPacket},
	{"connect missing user name", "[MQTT-3.1.3-12]", V311,
		[]byte{0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x82, 0x00, 0x00, 0x00, 0x01, 'c', 0x00}, MalformedPacket},
	{"connect trailing bytes", "§3.1.3", V311,
		[]byte{0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00, 0x00, 0x01, 'c', 0xFF}, MalformedPacket},
	{"connect v5 receive maximum 0", "§3.1.2.11.3", V5,
		connectV5Props(0x21, 0x00, 0x00), ProtocolError},
	{"connect v5 maximum packet size 0", "§3.1.2.11.4", V5,
		connectV5Props(0x27, 0x00, 0x00, 0x00, 0x00), ProtocolError},
	{"connect v5 request problem information 2", "§3.1.2.11.7", V5,
		connectV5Props(0x17, 0x02), ProtocolError},
	{"connect v5 request response information 2", "§3.1.2.11.6", V5,
		connectV5Props(0x19, 0x02), ProtocolError},
	{"connect v5 topic alias not allowed", "§2.2.2.2", V5,
		connectV5Props(0x23, 0x00, 0x01), ProtocolError},
	{"connect v5 will delay outside will properties", "§2.2.2.2", V5,
		connectV5Props(0x18, 0x00, 0x00, 0x00, 0x01), ProtocolError},
	{"connect v5 duplicate session expiry", "[MQTT-2.2.2-2]", V5,
		connectV5Props(0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2), ProtocolError},
	{"connect v5 will properties with session expiry", "§3.1.3.2", V5,
		[]byte{0x10, 0x19, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x00, 0x00, // header, will flag
			0x00, 0x01, 'c', // client id
			0x05, 0x11, 0x00, 0x00, 0x00, 0x01, // will properties: session expiry
			0x00, 0x01, 'w', 0x00, 0x00}, ProtocolError},
}

// connectHead builds a CONNECT with the given protocol name, level and flags,
// a keep alive of 0, client id "c" and nothing else.
func connectHead(name string, level, flags byte) []byte {
	body := []byte{0x00, byte(len(name))}
	body = append(body, name...)
	body = append(body, level, flags, 0x00, 0x00, 0x00, 0x01, 'c')
	return append([]byte{0x10, byte(len(body))}, body...)
}

// connectV5Props builds a v5 CONNECT whose properties are props.
func connectV5Props(props ...byte) []byte {
	body := []byte{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x00, byte(len(props))}
	body = append(body, props...)
	body = append(body, 0x00, 0x01, 'c')
	return append([]byte{0x10, byte(len(body))}, body...)
}

func TestMalformed(t *testing.T) {
	for _, m := range malformedCases {
		t.Run(m.name, func(t *testing.T) {
			// A case must fail for its own reason, not for a miscounted length.
			if n, used, err := parseVarInt(m.raw[1:]); err == nil && int(n) != len(m.raw)-1-used {
				t.Fatalf("case remaining length %d, but %d body bytes", n, len(m.raw)-1-used)
			}
			p, err := readOne(t, m.raw, m.version)
			if err == nil {
				t.Fatalf("Read(% X) = %+v; want error %v %s", m.raw, p, m.code, m.spec)
			}
			var rc ReasonCode
			if !errors.As(err, &rc) {
				t.Fatalf("Read(% X) error %v carries no reason code", m.raw, err)
			}
			t.Logf("%v", err)
			if got := Code(err); got != m.code {
				t.Errorf("Read(% X) = %v; want code %v %s", m.raw, err, m.code, m.spec)
			}
		})
	}
}

func TestConnectUnsupportedVersionReturnsPartialPacket(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     []byte
		code    ReasonCode
		wantVer Version
	}{
		{"MQTT level 6", connectHead("MQTT", 6, 0x02), UnsupportedProtocolVersion, 6},
		{"MQTT level 3", connectHead("MQTT", 3, 0x02), UnsupportedProtocolVersion, 3},
		{"bad name", connectHead("HTTP", 4, 0x02), ProtocolError, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, body := splitHeader(t, tc.raw)
			for _, read := range []bool{false, true} {
				var (
					p   *Packet
					err error
				)
				if read {
					p, err = readOne(t, tc.raw, V311)
				} else {
					p, err = Decode(first, body, V311)
				}
				if Code(err) != tc.code {
					t.Fatalf("error %v; want %v", err, tc.code)
				}
				if p == nil || p.Type != CONNECT || p.Connect.ProtocolVersion != tc.wantVer {
					t.Fatalf("packet %+v; want CONNECT with version %d", p, tc.wantVer)
				}
			}
		})
	}
}
