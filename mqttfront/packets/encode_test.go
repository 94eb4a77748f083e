package packets

import (
	"bytes"
	"strings"
	"testing"
)

// TestEncodeRefuses lists packets the encoder must not put on the wire.
func TestEncodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version Version
		packet  Packet
		code    ReasonCode
	}{
		{"topic alias on CONNECT", V5, Packet{Type: CONNECT, Connect: Connect{ProtocolVersion: V5, ClientID: "c"},
			Properties: Properties{TopicAlias: 1}}, ProtocolError},
		{"will delay on CONNECT", V5, Packet{Type: CONNECT, Connect: Connect{ProtocolVersion: V5},
			Properties: Properties{WillDelay: 1}}, ProtocolError},
		{"session expiry in will properties", V5, Packet{Type: CONNECT, Connect: Connect{ProtocolVersion: V5,
			WillFlag: true, WillTopic: "w", WillProperties: Properties{SessionExpirySet: true}}}, ProtocolError},
		{"unknown protocol level", V5, Packet{Type: CONNECT, Connect: Connect{ProtocolVersion: 7}}, UnsupportedProtocolVersion},
		{"v3 password without user name", V311, Packet{Type: CONNECT, Connect: Connect{ProtocolVersion: V311,
			Password: []byte("p")}}, MalformedPacket},
		{"will qos 3", V311, Packet{Type: CONNECT, Connect: Connect{ProtocolVersion: V311, WillFlag: true, WillQoS: 3}}, MalformedPacket},
		{"client id too long", V311, Packet{Type: CONNECT, Connect: Connect{ProtocolVersion: V311,
			ClientID: strings.Repeat("c", 65536)}}, MalformedPacket},
		{"publish qos 3", V311, Packet{Type: PUBLISH, QoS: 3, PacketID: 1, Topic: "t"}, MalformedPacket},
		{"publish dup qos 0", V311, Packet{Type: PUBLISH, Dup: true, Topic: "t"}, MalformedPacket},
		{"publish packet id 0", V311, Packet{Type: PUBLISH, QoS: 1, Topic: "t"}, ProtocolError},
		{"publish wildcard topic", V311, Packet{Type: PUBLISH, Topic: "a/+"}, TopicNameInvalid},
		{"publish empty topic v3", V311, Packet{Type: PUBLISH}, TopicNameInvalid},
		{"publish empty topic v5 without alias", V5, Packet{Type: PUBLISH}, ProtocolError},
		{"publish session expiry", V5, Packet{Type: PUBLISH, Topic: "t", Properties: Properties{SessionExpirySet: true}}, ProtocolError},
		{"publish payload format 2", V5, Packet{Type: PUBLISH, Topic: "t",
			Properties: Properties{PayloadFormat: 2, PayloadFormatSet: true}}, ProtocolError},
		{"publish subscription id 0", V5, Packet{Type: PUBLISH, Topic: "t",
			Properties: Properties{SubscriptionIDs: []uint32{0}}}, ProtocolError},
		{"puback packet id 0", V311, Packet{Type: PUBACK}, ProtocolError},
		{"puback v5 reason 0x92", V5, Packet{Type: PUBACK, PacketID: 1, ReasonCode: PacketIdentifierNotFound}, ProtocolError},
		{"puback v5 user property long", V5, Packet{Type: PUBACK, PacketID: 1,
			Properties: Properties{User: []UserProperty{{Key: strings.Repeat("k", 65536)}}}}, MalformedPacket},
		{"subscribe without filters", V311, Packet{Type: SUBSCRIBE, PacketID: 1}, ProtocolError},
		{"subscribe two subscription ids", V5, Packet{Type: SUBSCRIBE, PacketID: 1,
			Properties:    Properties{SubscriptionIDs: []uint32{1, 2}},
			Subscriptions: []Subscription{{Filter: "a"}}}, ProtocolError},
		{"subscribe no local on shared", V5, Packet{Type: SUBSCRIBE, PacketID: 1,
			Subscriptions: []Subscription{{Filter: "$share/g/a", NoLocal: true}}}, ProtocolError},
		{"subscribe retain handling 3", V5, Packet{Type: SUBSCRIBE, PacketID: 1,
			Subscriptions: []Subscription{{Filter: "a", RetainHandling: 3}}}, ProtocolError},
		{"unsubscribe without filters", V5, Packet{Type: UNSUBSCRIBE, PacketID: 1}, ProtocolError},
		{"suback v3 code 0x8F", V311, Packet{Type: SUBACK, PacketID: 1, ReasonCodes: []ReasonCode{TopicFilterInvalid}}, ProtocolError},
		{"suback without codes", V5, Packet{Type: SUBACK, PacketID: 1}, ProtocolError},
		{"connack v3 code 0x84", V311, Packet{Type: CONNACK, ReasonCode: UnsupportedProtocolVersion}, ProtocolError},
		{"connack session present on failure", V5, Packet{Type: CONNACK, SessionPresent: true, ReasonCode: NotAuthorized}, ProtocolError},
		{"connack auth data without method", V5, Packet{Type: CONNACK, Properties: Properties{AuthData: []byte{1}}}, ProtocolError},
		{"disconnect v5 reason 0x18", V5, Packet{Type: DISCONNECT, ReasonCode: ContinueAuthentication}, ProtocolError},
		{"auth in v3", V311, Packet{Type: AUTH}, ProtocolError},
		{"auth reason 0x80", V5, Packet{Type: AUTH, ReasonCode: UnspecifiedError}, ProtocolError},
		{"reserved type", V5, Packet{Type: Reserved}, MalformedPacket},
		{"type 16", V5, Packet{Type: 16}, MalformedPacket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte{1, 2, 3}
			out, err := Encode(dst, &tc.packet, tc.version)
			if Code(err) != tc.code {
				t.Fatalf("Encode = % X, %v; want code %v", out, err, tc.code)
			}
			if !bytes.Equal(out, dst) {
				t.Errorf("Encode on error changed dst to % X", out)
			}
			if n := Size(&tc.packet, tc.version); n != -1 {
				t.Errorf("Size = %d; want -1", n)
			}
		})
	}
}

// TestEncodeV3IgnoresProperties: the v3 layout has no properties, so they
// are dropped rather than refused.
func TestEncodeV3IgnoresProperties(t *testing.T) {
	p := Packet{Type: PUBLISH, QoS: 1, PacketID: 7, Retain: true, Topic: "a/b", Payload: []byte("hi"),
		Properties: Properties{TopicAlias: 3, SessionExpirySet: true, User: []UserProperty{{Key: "k"}}}}
	got, err := Encode(nil, &p, V311)
	want := []byte{0x33, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'h', 'i'}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Encode = % X, %v; want % X", got, err, want)
	}
	ack := Packet{Type: PUBACK, PacketID: 7, ReasonCode: QuotaExceeded, Properties: Properties{ReasonString: "x"}}
	got, err = Encode(nil, &ack, V311)
	if want := []byte{0x40, 0x02, 0x00, 0x07}; err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Encode PUBACK = % X, %v; want % X", got, err, want)
	}
}

// TestEncodeLargeRemainingLength covers the three- and four-byte remaining
// length forms, with Size agreeing. §1.5.5
func TestEncodeLargeRemainingLength(t *testing.T) {
	for _, n := range []int{127 - 3, 128 - 3, 16383 - 3, 16384 - 3, 2097151 - 3, 2097152 - 3} {
		p := Packet{Type: PUBLISH, Topic: "t", Payload: make([]byte, n)}
		b, err := Encode(nil, &p, V311)
		if err != nil {
			t.Fatal(err)
		}
		if Size(&p, V311) != len(b) {
			t.Fatalf("payload %d: Size %d, encoded %d", n, Size(&p, V311), len(b))
		}
		rl, used, err := parseVarInt(b[1:])
		if err != nil || int(rl) != n+3 || used != varIntLen(uint32(n+3)) {
			t.Fatalf("payload %d: remaining length %d in %d bytes, %v", n, rl, used, err)
		}
		q, err := readOne(t, b, V311)
		if err != nil || len(q.Payload) != n {
			t.Fatalf("payload %d: read back %v", n, err)
		}
	}
}

func TestEncodeNoAllocWithCapacity(t *testing.T) {
	pub := Packet{Type: PUBLISH, QoS: 1, PacketID: 9, Topic: "devices/42/telemetry", Payload: make([]byte, 128),
		Properties: Properties{User: []UserProperty{{Key: "k", Value: "v"}}, MessageExpirySet: true}}
	ack := Packet{Type: PUBACK, PacketID: 9, ReasonCode: QuotaExceeded}
	buf := make([]byte, 0, 512)
	for _, v := range []Version{V311, V5} {
		for _, p := range []*Packet{&pub, &ack} {
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := Encode(buf[:0], p, v); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Encode %s v%d: %.1f allocs; want 0", p.Type, v, allocs)
			}
		}
	}
}
