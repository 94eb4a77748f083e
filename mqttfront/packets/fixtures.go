package packets

import "bytes"

// Fixture is one packet in its wire form, annotated byte by byte, and the
// Packet it decodes to: decode tests read Raw and compare with Packet,
// encode tests encode Packet and compare with Raw. The table (Fixtures) is
// the codec's, exported for the tests of other packages as mochi's
// tpackets.go is; the codec's own tests (codec_test.go, read_test.go,
// fuzz_test.go) walk it.
type Fixture struct {
	Name    string
	Spec    string // normative statements the case exercises
	Version Version
	Raw     []byte
	Packet  Packet
	// DecodeOnly marks input the encoder never produces (a non-minimal
	// length, an optional field that the encoder omits).
	DecodeOnly bool
}

// Fixtures returns the table of annotated packets, built afresh on each
// call (a test may change its copy; a binary that never calls it carries
// none of it).
func Fixtures() []Fixture {
	// bigPayload is the 200-byte payload of the two-byte remaining length case.
	bigPayload := bytes.Repeat([]byte{'z'}, 200)
	return []Fixture{
		// ---------------------------------------------------------------- CONNECT
		{
			Name: "connect v3.1 MQIsdp", Spec: "[MQTT-3.1.2-1] [MQTT-3.1.2-2]", Version: V31,
			Raw: []byte{
				0x10, 0x11, // CONNECT, remaining length 17
				0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', // protocol name "MQIsdp"
				0x03,       // protocol level 3
				0x02,       // connect flags: clean session
				0x00, 0x3C, // keep alive 60
				0x00, 0x03, 'c', 'i', 'd', // client id "cid"
			},
			Packet: Packet{Type: CONNECT, Connect: Connect{ProtocolName: "MQIsdp", ProtocolVersion: V31,
				CleanStart: true, KeepAlive: 60, ClientID: "cid"}},
		},
		{
			Name: "connect v3.1.1 minimal", Spec: "[MQTT-3.1.2-1] [MQTT-3.1.3-3]", Version: V311,
			Raw: []byte{
				0x10, 0x0F, // CONNECT, remaining length 15
				0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
				0x04,       // protocol level 4
				0x02,       // connect flags: clean session
				0x00, 0x3C, // keep alive 60
				0x00, 0x03, 'c', 'i', 'd', // client id "cid"
			},
			Packet: Packet{Type: CONNECT, Connect: Connect{ProtocolName: "MQTT", ProtocolVersion: V311,
				CleanStart: true, KeepAlive: 60, ClientID: "cid"}},
		},
		{
			Name: "connect v3.1.1 empty client id", Spec: "[MQTT-3.1.3-6]", Version: V311,
			Raw: []byte{
				0x10, 0x0C, // CONNECT, remaining length 12
				0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
				0x04,       // protocol level 4
				0x02,       // connect flags: clean session
				0x00, 0x00, // keep alive 0
				0x00, 0x00, // client id ""
			},
			Packet: Packet{Type: CONNECT, Connect: Connect{ProtocolName: "MQTT", ProtocolVersion: V311,
				CleanStart: true}},
		},
		{
			Name: "connect v3.1.1 will user password", Spec: "[MQTT-3.1.2-9] [MQTT-3.1.2-19] [MQTT-3.1.2-21]", Version: V311,
			Raw: []byte{
				0x10, 0x23, // CONNECT, remaining length 35
				0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
				0x04,       // protocol level 4
				0xEE,       // flags: user name, password, will retain, will QoS 1, will, clean session
				0x00, 0x1E, // keep alive 30
				0x00, 0x03, 'c', 'i', 'd', // client id "cid"
				0x00, 0x03, 'w', '/', 't', // will topic "w/t"
				0x00, 0x03, 'b', 'y', 'e', // will payload "bye"
				0x00, 0x04, 'u', 's', 'e', 'r', // user name "user"
				0x00, 0x02, 'p', 'w', // password "pw"
			},
			Packet: Packet{Type: CONNECT, Connect: Connect{ProtocolName: "MQTT", ProtocolVersion: V311,
				CleanStart: true, KeepAlive: 30, ClientID: "cid",
				WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: "w/t", WillPayload: []byte("bye"),
				UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pw")}},
		},
		{
			Name: "connect v5 properties", Spec: "§3.1.2.11 [MQTT-2.2.2-2]", Version: V5,
			Raw: []byte{
				0x10, 0x37, // CONNECT, remaining length 55
				0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
				0x05,       // protocol level 5
				0x02,       // connect flags: clean start
				0x00, 0x3C, // keep alive 60
				0x27,                         // property length 39
				0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry interval 3600
				0x15, 0x00, 0x05, 'P', 'L', 'A', 'I', 'N', // authentication method "PLAIN"
				0x16, 0x00, 0x01, 0x00, // authentication data {0}
				0x17, 0x00, // request problem information 0
				0x19, 0x01, // request response information 1
				0x21, 0x00, 0x14, // receive maximum 20
				0x22, 0x00, 0x0A, // topic alias maximum 10
				0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
				0x27, 0x00, 0x01, 0x00, 0x00, // maximum packet size 65536
				0x00, 0x03, 'c', 'i', 'd', // client id "cid"
			},
			Packet: Packet{Type: CONNECT, Connect: Connect{ProtocolName: "MQTT", ProtocolVersion: V5,
				CleanStart: true, KeepAlive: 60, ClientID: "cid"},
				Properties: Properties{SessionExpiry: 3600, SessionExpirySet: true,
					AuthMethod: "PLAIN", AuthData: []byte{0},
					RequestProblemInfo: 0, RequestProblemInfoSet: true,
					RequestResponseInfo: 1, RequestResponseInfoSet: true,
					ReceiveMaximum: 20, TopicAliasMaximum: 10,
					User:              []UserProperty{{Key: "k", Value: "v"}},
					MaximumPacketSize: 65536}},
		},
		{
			Name: "connect v5 will properties, password without user name", Spec: "§3.1.3.2 [MQTT-3.1.2-22] (v5 allows)", Version: V5,
			Raw: []byte{
				0x10, 0x29, // CONNECT, remaining length 41
				0x00, 0x04, 'M', 'Q', 'T', 'T', // protocol name "MQTT"
				0x05,       // protocol level 5
				0x46,       // connect flags: password, will (QoS 0), clean start
				0x00, 0x0A, // keep alive 10
				0x00,                      // property length 0
				0x00, 0x03, 'c', 'i', 'd', // client id "cid"
				0x0E,       // will property length 14
				0x01, 0x01, // payload format indicator 1 (UTF-8)
				0x03, 0x00, 0x04, 't', 'e', 'x', 't', // content type "text"
				0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval 5
				0x00, 0x01, 'w', // will topic "w"
				0x00, 0x01, 'x', // will payload "x"
				0x00, 0x02, 'p', 'w', // password "pw"
			},
			Packet: Packet{Type: CONNECT, Connect: Connect{ProtocolName: "MQTT", ProtocolVersion: V5,
				CleanStart: true, KeepAlive: 10, ClientID: "cid",
				WillFlag: true, WillTopic: "w", WillPayload: []byte("x"),
				WillProperties: Properties{PayloadFormat: 1, PayloadFormatSet: true, ContentType: "text", WillDelay: 5},
				PasswordFlag:   true, Password: []byte("pw")}},
		},

		// ---------------------------------------------------------------- CONNACK
		{
			Name: "connack v3.1.1 session present", Spec: "[MQTT-3.2.2-2]", Version: V311,
			Raw: []byte{
				0x20, 0x02, // CONNACK, remaining length 2
				0x01, // session present
				0x00, // return code: accepted
			},
			Packet: Packet{Type: CONNACK, SessionPresent: true},
		},
		{
			Name: "connack v3.1.1 not authorized", Spec: "[MQTT-3.2.2-5]", Version: V311,
			Raw: []byte{
				0x20, 0x02, // CONNACK, remaining length 2
				0x00, // no session
				0x05, // return code 5: not authorized
			},
			Packet: Packet{Type: CONNACK, ReasonCode: V3NotAuthorized},
		},
		{
			Name: "connack v5 unsupported protocol version", Spec: "[MQTT-3.1.2-2]", Version: V5,
			Raw: []byte{
				0x20, 0x03, // CONNACK, remaining length 3
				0x00, // no session
				0x84, // unsupported protocol version
				0x00, // property length 0
			},
			Packet: Packet{Type: CONNACK, ReasonCode: UnsupportedProtocolVersion},
		},
		{
			Name: "connack v5 properties", Spec: "§3.2.2.3", Version: V5,
			Raw: []byte{
				0x20, 0x30, // CONNACK, remaining length 48
				0x00,                                 // no session
				0x00,                                 // success
				0x2D,                                 // property length 45
				0x12, 0x00, 0x04, 'a', 'u', 't', 'o', // assigned client identifier "auto"
				0x13, 0x00, 0x1E, // server keep alive 30
				0x1A, 0x00, 0x02, 'r', 'i', // response information "ri"
				0x1C, 0x00, 0x02, 's', '2', // server reference "s2"
				0x1F, 0x00, 0x01, 'r', // reason string "r"
				0x21, 0x00, 0x0A, // receive maximum 10
				0x22, 0x00, 0x10, // topic alias maximum 16
				0x24, 0x01, // maximum QoS 1
				0x25, 0x00, // retain available 0
				0x27, 0x00, 0x10, 0x00, 0x00, // maximum packet size 1 MiB
				0x28, 0x01, // wildcard subscription available 1
				0x29, 0x00, // subscription identifier available 0
				0x2A, 0x01, // shared subscription available 1
			},
			Packet: Packet{Type: CONNACK, Properties: Properties{
				AssignedClientID: "auto", ServerKeepAlive: 30, ServerKeepAliveSet: true,
				ResponseInfo: "ri", ServerReference: "s2", ReasonString: "r",
				ReceiveMaximum: 10, TopicAliasMaximum: 16,
				MaximumQoS: 1, MaximumQoSSet: true, RetainAvailable: 0, RetainAvailableSet: true,
				MaximumPacketSize:    1 << 20,
				WildcardSubAvailable: 1, WildcardSubAvailableSet: true,
				SubIDAvailable: 0, SubIDAvailableSet: true,
				SharedSubAvailable: 1, SharedSubAvailableSet: true}},
		},

		// ---------------------------------------------------------------- PUBLISH
		{
			Name: "publish v3.1.1 qos0", Spec: "[MQTT-3.3.1-1] [MQTT-3.3.2-1]", Version: V311,
			Raw: []byte{
				0x30, 0x08, // PUBLISH qos0, remaining length 8
				0x00, 0x03, 'a', '/', 'b', // topic "a/b"
				'h', 'i', '!', // payload "hi!"
			},
			Packet: Packet{Type: PUBLISH, Topic: "a/b", Payload: []byte("hi!")},
		},
		{
			Name: "publish v3.1.1 qos1 retain", Spec: "[MQTT-2.2.1-3] [MQTT-3.3.1-5]", Version: V311,
			Raw: []byte{
				0x33, 0x09, // PUBLISH qos1 retain, remaining length 9
				0x00, 0x03, 'a', '/', 'b', // topic "a/b"
				0x00, 0x07, // packet id 7
				'h', 'i', // payload "hi"
			},
			Packet: Packet{Type: PUBLISH, QoS: 1, Retain: true, PacketID: 7, Topic: "a/b", Payload: []byte("hi")},
		},
		{
			Name: "publish v3.1.1 qos2 dup empty payload", Spec: "[MQTT-3.3.1-1]", Version: V311,
			Raw: []byte{
				0x3C, 0x07, // PUBLISH dup qos2, remaining length 7
				0x00, 0x03, 'a', '/', 'b', // topic "a/b"
				0xFF, 0xFE, // packet id 65534
			},
			Packet: Packet{Type: PUBLISH, Dup: true, QoS: 2, PacketID: 65534, Topic: "a/b"},
		},
		{
			Name: "publish v3.1.1 two-byte remaining length", Spec: "§1.5.5 §2.1.4", Version: V311,
			Raw: append([]byte{
				0x30, 0xCD, 0x01, // PUBLISH qos0, remaining length 205 (0x4D + 1*128)
				0x00, 0x03, 'b', 'i', 'g', // topic "big"
			}, bigPayload...), // payload: 200 x 'z'
			Packet: Packet{Type: PUBLISH, Topic: "big", Payload: bigPayload},
		},
		{
			Name: "publish v5 qos0 no properties", Spec: "§3.3.2.3", Version: V5,
			Raw: []byte{
				0x30, 0x06, // PUBLISH qos0, remaining length 6
				0x00, 0x01, 't', // topic "t"
				0x00,     // property length 0
				'a', 'b', // payload "ab"
			},
			Packet: Packet{Type: PUBLISH, Topic: "t", Payload: []byte("ab")},
		},
		{
			Name: "publish v5 qos1 properties", Spec: "§3.3.2.3 [MQTT-3.3.2-17]", Version: V5,
			Raw: []byte{
				0x32, 0x2A, // PUBLISH qos1, remaining length 42
				0x00, 0x03, 'a', '/', 'b', // topic "a/b"
				0x00, 0x01, // packet id 1
				0x20,       // property length 32
				0x01, 0x01, // payload format indicator 1
				0x02, 0x00, 0x00, 0x00, 0x3C, // message expiry interval 60
				0x03, 0x00, 0x04, 'j', 's', 'o', 'n', // content type "json"
				0x08, 0x00, 0x01, 'r', // response topic "r"
				0x09, 0x00, 0x02, 0xCA, 0xFE, // correlation data CA FE
				0x0B, 0x05, // subscription identifier 5
				0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', // user property a=b
				'{', '}', // payload "{}"
			},
			Packet: Packet{Type: PUBLISH, QoS: 1, PacketID: 1, Topic: "a/b", Payload: []byte("{}"),
				Properties: Properties{PayloadFormat: 1, PayloadFormatSet: true,
					MessageExpiry: 60, MessageExpirySet: true, ContentType: "json", ResponseTopic: "r",
					CorrelationData: []byte{0xCA, 0xFE}, SubscriptionIDs: []uint32{5},
					User: []UserProperty{{Key: "a", Value: "b"}}}},
		},
		{
			Name: "publish v5 topic alias with empty topic", Spec: "[MQTT-3.3.2-8] §3.3.2.3.4", Version: V5,
			Raw: []byte{
				0x30, 0x07, // PUBLISH qos0, remaining length 7
				0x00, 0x00, // topic "" (resolved from the alias)
				0x03,             // property length 3
				0x23, 0x00, 0x01, // topic alias 1
				'x', // payload "x"
			},
			Packet: Packet{Type: PUBLISH, Payload: []byte("x"), Properties: Properties{TopicAlias: 1}},
		},
		{
			Name: "publish v5 several subscription identifiers", Spec: "[MQTT-3.3.4-3] §1.5.5", Version: V5,
			Raw: []byte{
				0x31, 0x0A, // PUBLISH qos0 retain, remaining length 10
				0x00, 0x01, 't', // topic "t"
				0x05,       // property length 5
				0x0B, 0x01, // subscription identifier 1
				0x0B, 0xC8, 0x01, // subscription identifier 200 (variable byte integer)
				'p', // payload "p"
			},
			Packet: Packet{Type: PUBLISH, Retain: true, Topic: "t", Payload: []byte("p"),
				Properties: Properties{SubscriptionIDs: []uint32{1, 200}}},
		},
		{
			Name: "publish v5 empty user property and correlation data", Spec: "§1.5.7 §1.5.6", Version: V5,
			Raw: []byte{
				0x30, 0x0C, // PUBLISH qos0, remaining length 12
				0x00, 0x01, 't', // topic "t"
				0x08,             // property length 8
				0x09, 0x00, 0x00, // correlation data, empty
				0x26, 0x00, 0x00, 0x00, 0x00, // user property ""=""
			},
			Packet: Packet{Type: PUBLISH, Topic: "t",
				Properties: Properties{CorrelationData: []byte{}, User: []UserProperty{{}}}},
		},

		// ------------------------------------------------- PUBACK PUBREC PUBREL PUBCOMP
		{
			Name: "puback v3.1.1", Spec: "§3.4.2", Version: V311,
			Raw:    []byte{0x40, 0x02, 0x00, 0x07}, // PUBACK, remaining length 2, packet id 7
			Packet: Packet{Type: PUBACK, PacketID: 7},
		},
		{
			Name: "pubrec v3.1.1", Spec: "§3.5.2", Version: V311,
			Raw:    []byte{0x50, 0x02, 0x00, 0x07}, // PUBREC, remaining length 2, packet id 7
			Packet: Packet{Type: PUBREC, PacketID: 7},
		},
		{
			Name: "pubrel v3.1.1", Spec: "[MQTT-3.6.1-1]", Version: V311,
			Raw:    []byte{0x62, 0x02, 0x00, 0x07}, // PUBREL flags 0010, remaining length 2, packet id 7
			Packet: Packet{Type: PUBREL, PacketID: 7},
		},
		{
			Name: "pubcomp v3.1.1", Spec: "§3.7.2", Version: V311,
			Raw:    []byte{0x70, 0x02, 0x00, 0x07}, // PUBCOMP, remaining length 2, packet id 7
			Packet: Packet{Type: PUBCOMP, PacketID: 7},
		},
		{
			Name: "puback v5 short form", Spec: "[MQTT-3.4.2-1]", Version: V5,
			Raw: []byte{
				0x40, 0x02, // PUBACK, remaining length 2
				0x00, 0x07, // packet id 7 (reason code and properties omitted: success)
			},
			Packet: Packet{Type: PUBACK, PacketID: 7},
		},
		{
			Name: "puback v5 reason code only", Spec: "§3.4.2.1 §3.4.2.2.1", Version: V5,
			Raw: []byte{
				0x40, 0x03, // PUBACK, remaining length 3
				0x00, 0x07, // packet id 7
				0x10, // no matching subscribers (no property length)
			},
			Packet: Packet{Type: PUBACK, PacketID: 7, ReasonCode: NoMatchingSubscribers},
		},
		{
			Name: "puback v5 reason and properties", Spec: "§3.4.2.2", Version: V5,
			Raw: []byte{
				0x40, 0x0B, // PUBACK, remaining length 11
				0x00, 0x07, // packet id 7
				0x97,                                 // quota exceeded
				0x07,                                 // property length 7
				0x1F, 0x00, 0x04, 'b', 'u', 's', 'y', // reason string "busy"
			},
			Packet: Packet{Type: PUBACK, PacketID: 7, ReasonCode: QuotaExceeded,
				Properties: Properties{ReasonString: "busy"}},
		},
		{
			Name: "puback v5 explicit success and empty properties", Spec: "§3.4.2.2.1", Version: V5,
			Raw: []byte{
				0x40, 0x04, // PUBACK, remaining length 4
				0x00, 0x07, // packet id 7
				0x00, // success
				0x00, // property length 0
			},
			Packet:     Packet{Type: PUBACK, PacketID: 7},
			DecodeOnly: true,
		},
		{
			Name: "pubrec v5 unspecified error", Spec: "§3.5.2.1", Version: V5,
			Raw: []byte{
				0x50, 0x03, // PUBREC, remaining length 3
				0x00, 0x07, // packet id 7
				0x80, // unspecified error
			},
			Packet: Packet{Type: PUBREC, PacketID: 7, ReasonCode: UnspecifiedError},
		},
		{
			Name: "pubrel v5 packet identifier not found", Spec: "[MQTT-3.6.1-1] §3.6.2.1", Version: V5,
			Raw: []byte{
				0x62, 0x03, // PUBREL flags 0010, remaining length 3
				0x00, 0x07, // packet id 7
				0x92, // packet identifier not found
			},
			Packet: Packet{Type: PUBREL, PacketID: 7, ReasonCode: PacketIdentifierNotFound},
		},
		{
			Name: "pubcomp v5 user property", Spec: "§3.7.2.2", Version: V5,
			Raw: []byte{
				0x70, 0x0B, // PUBCOMP, remaining length 11
				0x00, 0x07, // packet id 7
				0x00,                                   // success
				0x07,                                   // property length 7
				0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
			},
			Packet: Packet{Type: PUBCOMP, PacketID: 7, Properties: Properties{User: []UserProperty{{Key: "k", Value: "v"}}}},
		},

		// -------------------------------------------------------------- SUBSCRIBE
		{
			Name: "subscribe v3.1.1 two filters", Spec: "[MQTT-3.8.1-1] [MQTT-3.8.3-1]", Version: V311,
			Raw: []byte{
				0x82, 0x0E, // SUBSCRIBE flags 0010, remaining length 14
				0x00, 0x0A, // packet id 10
				0x00, 0x03, 'a', '/', '+', // filter "a/+"
				0x01,                      // QoS 1
				0x00, 0x03, 'b', '/', '#', // filter "b/#"
				0x02, // QoS 2
			},
			Packet: Packet{Type: SUBSCRIBE, PacketID: 10, Subscriptions: []Subscription{
				{Filter: "a/+", QoS: 1}, {Filter: "b/#", QoS: 2}}},
		},
		{
			Name: "subscribe v3.1.1 invalid filter is left to the broker", Spec: "[MQTT-4.7.1-2]", Version: V311,
			Raw: []byte{
				0x82, 0x09, // SUBSCRIBE flags 0010, remaining length 9
				0x00, 0x0B, // packet id 11
				0x00, 0x04, 'a', '/', 'b', '#', // filter "a/b#" (invalid wildcard)
				0x00, // QoS 0
			},
			Packet: Packet{Type: SUBSCRIBE, PacketID: 11, Subscriptions: []Subscription{{Filter: "a/b#"}}},
		},
		{
			Name: "subscribe v5 options and subscription identifier", Spec: "§3.8.2.1.2 §3.8.3.1", Version: V5,
			Raw: []byte{
				0x82, 0x1F, // SUBSCRIBE flags 0010, remaining length 31
				0x00, 0x02, // packet id 2
				0x09,       // property length 9
				0x0B, 0x2A, // subscription identifier 42
				0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', // user property k=v
				0x00, 0x03, 'a', '/', 'b', // filter "a/b"
				0x2D,                                                         // retain handling 2, retain as published, no local, QoS 1
				0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'x', // filter "$share/g/x"
				0x00, // QoS 0
			},
			Packet: Packet{Type: SUBSCRIBE, PacketID: 2,
				Properties: Properties{SubscriptionIDs: []uint32{42}, User: []UserProperty{{Key: "k", Value: "v"}}},
				Subscriptions: []Subscription{
					{Filter: "a/b", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
					{Filter: "$share/g/x"}}},
		},

		// ----------------------------------------------------------------- SUBACK
		{
			Name: "suback v3.1.1", Spec: "[MQTT-3.9.3-1] [MQTT-3.9.3-2]", Version: V311,
			Raw: []byte{
				0x90, 0x05, // SUBACK, remaining length 5
				0x00, 0x0A, // packet id 10
				0x01, // granted QoS 1
				0x02, // granted QoS 2
				0x80, // failure
			},
			Packet: Packet{Type: SUBACK, PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS1, GrantedQoS2, V3SubackFailure}},
		},
		{
			Name: "suback v5 reason string", Spec: "§3.9.2.1 §3.9.3", Version: V5,
			Raw: []byte{
				0x90, 0x0A, // SUBACK, remaining length 10
				0x00, 0x02, // packet id 2
				0x05,                       // property length 5
				0x1F, 0x00, 0x02, 'o', 'k', // reason string "ok"
				0x01, // granted QoS 1
				0x8F, // topic filter invalid
			},
			Packet: Packet{Type: SUBACK, PacketID: 2, Properties: Properties{ReasonString: "ok"},
				ReasonCodes: []ReasonCode{GrantedQoS1, TopicFilterInvalid}},
		},

		// ------------------------------------------------------------ UNSUBSCRIBE
		{
			Name: "unsubscribe v3.1.1", Spec: "[MQTT-3.10.1-1] [MQTT-3.10.3-1]", Version: V311,
			Raw: []byte{
				0xA2, 0x0A, // UNSUBSCRIBE flags 0010, remaining length 10
				0x00, 0x0C, // packet id 12
				0x00, 0x03, 'a', '/', 'b', // filter "a/b"
				0x00, 0x01, 'c', // filter "c"
			},
			Packet: Packet{Type: UNSUBSCRIBE, PacketID: 12, Subscriptions: []Subscription{{Filter: "a/b"}, {Filter: "c"}}},
		},
		{
			Name: "unsubscribe v5", Spec: "§3.10.2.1", Version: V5,
			Raw: []byte{
				0xA2, 0x08, // UNSUBSCRIBE flags 0010, remaining length 8
				0x00, 0x0C, // packet id 12
				0x00,                      // property length 0
				0x00, 0x03, 'a', '/', 'b', // filter "a/b"
			},
			Packet: Packet{Type: UNSUBSCRIBE, PacketID: 12, Subscriptions: []Subscription{{Filter: "a/b"}}},
		},

		// --------------------------------------------------------------- UNSUBACK
		{
			Name: "unsuback v3.1.1", Spec: "§3.11.2", Version: V311,
			Raw:    []byte{0xB0, 0x02, 0x00, 0x0C}, // UNSUBACK, remaining length 2, packet id 12
			Packet: Packet{Type: UNSUBACK, PacketID: 12},
		},
		{
			Name: "unsuback v5", Spec: "§3.11.3", Version: V5,
			Raw: []byte{
				0xB0, 0x05, // UNSUBACK, remaining length 5
				0x00, 0x0C, // packet id 12
				0x00, // property length 0
				0x00, // success
				0x11, // no subscription existed
			},
			Packet: Packet{Type: UNSUBACK, PacketID: 12, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}},
		},

		// ------------------------------------------------------- PINGREQ PINGRESP
		{
			Name: "pingreq v3.1.1", Spec: "§3.12", Version: V311,
			Raw:    []byte{0xC0, 0x00}, // PINGREQ, remaining length 0
			Packet: Packet{Type: PINGREQ},
		},
		{
			Name: "pingresp v3.1.1", Spec: "§3.13", Version: V311,
			Raw:    []byte{0xD0, 0x00}, // PINGRESP, remaining length 0
			Packet: Packet{Type: PINGRESP},
		},
		{
			Name: "pingreq v5", Spec: "§3.12", Version: V5,
			Raw:    []byte{0xC0, 0x00}, // PINGREQ, remaining length 0
			Packet: Packet{Type: PINGREQ},
		},
		{
			Name: "pingresp v5", Spec: "§3.13", Version: V5,
			Raw:    []byte{0xD0, 0x00}, // PINGRESP, remaining length 0
			Packet: Packet{Type: PINGRESP},
		},
		{
			Name: "pingreq non-minimal remaining length", Spec: "§1.5.5", Version: V311,
			Raw:        []byte{0xC0, 0x80, 0x00}, // PINGREQ, remaining length 0 in two bytes
			Packet:     Packet{Type: PINGREQ},
			DecodeOnly: true,
		},

		// ------------------------------------------------------------- DISCONNECT
		{
			Name: "disconnect v3.1.1", Spec: "[MQTT-3.14.1-1]", Version: V311,
			Raw:    []byte{0xE0, 0x00}, // DISCONNECT, remaining length 0
			Packet: Packet{Type: DISCONNECT},
		},
		{
			Name: "disconnect v5 short form", Spec: "§3.14.2.1", Version: V5,
			Raw:    []byte{0xE0, 0x00}, // DISCONNECT, remaining length 0: normal disconnection
			Packet: Packet{Type: DISCONNECT},
		},
		{
			Name: "disconnect v5 reason code only", Spec: "§3.14.2.2.1", Version: V5,
			Raw: []byte{
				0xE0, 0x01, // DISCONNECT, remaining length 1
				0x04, // disconnect with will message (no property length)
			},
			Packet: Packet{Type: DISCONNECT, ReasonCode: DisconnectWithWill},
		},
		{
			Name: "disconnect v5 properties", Spec: "§3.14.2.2", Version: V5,
			Raw: []byte{
				0xE0, 0x0D, // DISCONNECT, remaining length 13
				0x00,                         // normal disconnection
				0x0B,                         // property length 11
				0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0
				0x1F, 0x00, 0x03, 'b', 'y', 'e', // reason string "bye"
			},
			Packet: Packet{Type: DISCONNECT, Properties: Properties{SessionExpirySet: true, ReasonString: "bye"}},
		},

		// ------------------------------------------------------------------- AUTH
		{
			Name: "auth v5 short form", Spec: "§3.15.2.1", Version: V5,
			Raw:    []byte{0xF0, 0x00}, // AUTH, remaining length 0: success
			Packet: Packet{Type: AUTH},
		},
		{
			Name: "auth v5 continue", Spec: "§3.15.2.1 §3.15.2.2", Version: V5,
			Raw: []byte{
				0xF0, 0x0F, // AUTH, remaining length 15
				0x18,                                      // continue authentication
				0x0D,                                      // property length 13
				0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', // authentication method "SCRAM"
				0x16, 0x00, 0x02, 0x01, 0x02, // authentication data 01 02
			},
			Packet: Packet{Type: AUTH, ReasonCode: ContinueAuthentication,
				Properties: Properties{AuthMethod: "SCRAM", AuthData: []byte{1, 2}}},
		},
	}
}
