package cluster

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// sessionRecordCases are the session records as bytes, annotated; encode
// and decode walk the same table.
var sessionRecordCases = []struct {
	name string
	rec  stateRecord
	b    []byte
}{
	{
		name: "online, nothing but the owner",
		rec:  stateRecord{Owner: "r1", Incarnation: 7, State: mqttfront.SessionState{ClientID: "c", Epoch: 5, Version: 4}},
		b: []byte{
			1, 2, // format 1, kind state
			5,           // epoch 5
			2, 'r', '1', // owner
			7,    // incarnation
			0,    // username ""
			4,    // protocol version 3.1.1
			0,    // expiry 0
			0x00, // flags: online, no will
			0,    // 0 subscriptions
			0,    // 0 QoS 2 ids
		},
	},
	{
		name: "offline, subscriptions, QoS 2 ids, delayed will",
		rec: stateRecord{Owner: "r1", Incarnation: 300, State: mqttfront.SessionState{
			ClientID: "c", Epoch: 300, Username: "u", Version: 5, Expiry: 60,
			DisconnectedAt: time.UnixMilli(1),
			Subscriptions: []topics.Sub{
				{ClientID: "c", Filter: "a/#", QoS: 1, NoLocal: true, RetainHandling: 2, ID: 5},
				{ClientID: "c", Filter: "$share/g/b", Group: "g", QoS: 2, RetainAsPublished: true},
			},
			InboundQoS2: []uint16{9, 300},
			Will: &mqttfront.Message{Topic: "w", Payload: []byte("x"), QoS: 1, Retain: true, ClientID: "c", Username: "u",
				Properties: mqttfront.Properties{MessageExpiry: 10, MessageExpirySet: true, PayloadFormat: 1, PayloadFormatSet: true,
					ContentType: "t", CorrelationData: []byte{0xff}, User: []mqttfront.UserProperty{{Key: "k", Value: "v"}}}},
			WillDelay: 30,
			WillAt:    time.UnixMilli(2),
		}},
		b: []byte{
			1, 2, // format 1, kind state
			0xac, 0x02, // epoch 300 (uvarint)
			2, 'r', '1', // owner
			0xac, 0x02, // incarnation 300
			1, 'u', // username
			5,                // protocol version 5
			60,               // expiry 60 s
			0x03,             // flags: disconnected, will
			2,                // disconnected at 1 ms (zigzag varint)
			2,                // 2 subscriptions
			3, 'a', '/', '#', // filter
			1, 0x01, 2, 5, // QoS 1, flags: No Local, Retain Handling 2, id 5
			10, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'b', // filter (group from the filter)
			2, 0x02, 0, 0, // QoS 2, flags: Retain As Published, Retain Handling 0, no id
			2, 9, 0xac, 0x02, // 2 QoS 2 ids: 9, 300
			1, 'w', // will topic
			1, 'x', // will payload
			1, 0x07, // will QoS 1, flags: retain, payload format, expiry
			1,      // payload format 1 (UTF-8)
			10,     // message expiry 10 s
			1, 't', // content type
			0,       // response topic ""
			1, 0xff, // correlation data
			1, 1, 'k', 1, 'v', // 1 user property k=v
			30, // will delay 30 s
			4,  // will at 2 ms
		},
	},
}

func TestSessionRecordBytes(t *testing.T) {
	for _, tc := range sessionRecordCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rec.encode(); !reflect.DeepEqual(got, tc.b) {
				t.Fatalf("encode =\n% x\nwant\n% x", got, tc.b)
			}
			back, err := decodeState("c", tc.b)
			if err != nil {
				t.Fatalf("decodeState: %v", err)
			}
			if !reflect.DeepEqual(back, tc.rec) {
				t.Fatalf("decodeState =\n%+v\nwant\n%+v", back, tc.rec)
			}
		})
	}
	ended := []byte{
		1, 3, // format 1, kind ended
		0xac, 0x02, // epoch 300
	}
	if got := (endedRecord{Epoch: 300}).encode(); !reflect.DeepEqual(got, ended) {
		t.Fatalf("ended encode = % x; want % x", got, ended)
	}
	if back, err := decodeEnded(ended); err != nil || back.Epoch != 300 {
		t.Fatalf("decodeEnded = %+v, %v; want epoch 300", back, err)
	}
	claim := []byte{
		1, 1, // format 1, kind claim
		1, 'r', // owner
		1,           // incarnation
		0x06,        // flags: username follows, bound
		5,           // version
		0,           // expiry
		0,           // time: none
		2, 'u', '1', // username
	}
	c := claimRecord{Owner: "r", Incarnation: 1, Version: 5, Username: "u1", Bound: true}
	if got := c.encode(); !reflect.DeepEqual(got, claim) {
		t.Fatalf("claim encode = % x; want % x", got, claim)
	}
	if back, err := decodeClaim(claim); err != nil || back != c {
		t.Fatalf("decodeClaim = %+v, %v; want %+v", back, err, c)
	}
}

func TestSessionRecordDecodeRefuses(t *testing.T) {
	good := sessionRecordCases[1].b
	with := func(i int, v byte) []byte {
		b := append([]byte{}, good...)
		b[i] = v
		return b
	}
	const (
		flagsAt  = 13 // the state flags byte in good
		qosAt    = 20 // the first subscription's QoS
		rhAt     = 22 // its Retain Handling
		versAt   = 11
		qos2At   = 40 // the first QoS 2 id
		nSubsAt  = 15
		willQoS  = 47
		willFlag = 48
	)
	cases := []struct {
		name string
		b    []byte
	}{
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"unknown state flag", with(flagsAt, 0x07)},
		{"subscription QoS 3", with(qosAt, 3)},
		{"retain handling 3", with(rhAt, 3)},
		{"protocol version 6", with(versAt, 6)},
		{"QoS 2 id 0", with(qos2At, 0)},
		{"subscription count beyond the record", with(nSubsAt, 0x7f)},
		{"will QoS 3", with(willQoS, 3)},
		{"unknown will flag", with(willFlag, 0x0f)},
		{"ended as state", (endedRecord{Epoch: 1}).encode()},
		{"newer format", with(0, 2)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeState("c", tc.b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeState(% x) = %v; want ErrCorrupt", tc.b, err)
			}
		})
	}
	if _, err := decodeClaim([]byte{1, 1, 1, 'r', 1, 0x08, 5, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("claim with flag 0x08: %v; want ErrCorrupt", err)
	}
	if _, err := decodeEnded([]byte{1, 3}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ended without epoch: %v; want ErrCorrupt", err)
	}
}
