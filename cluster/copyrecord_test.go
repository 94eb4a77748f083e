package cluster

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// copyRecordCases are copy records as bytes, annotated; encode and decode
// walk the same table.
var copyRecordCases = []struct {
	name string
	rec  copyRecord
	b    []byte
}{
	{
		name: "from a device, one target",
		rec: copyRecord{Source: "r2", Targets: []string{"c1"},
			Msg: &mqttfront.Message{Topic: "a/b", Payload: []byte("hi"), QoS: 1, ClientID: "p", ReceivedAt: time.UnixMilli(1000)}},
		b: []byte{
			1, 6, // format 1, kind copy
			2, 'r', '2', // source replica
			0,      // hops 0
			1, 'p', // publisher (No Local)
			0,          // username ""
			0xd0, 0x0f, // received at: varint 1000 ms
			1,           // 1 target
			2, 'c', '1', // target client id
			3, 'a', '/', 'b', // topic
			2, 'h', 'i', // payload
			1,    // QoS 1
			0x00, // flags: not retained, no payload format, no expiry
			0,    // content type ""
			0,    // response topic ""
			0,    // correlation data none
			0,    // 0 user properties
		},
	},
	{
		name: "forwarded downlink command, two targets, properties",
		rec: copyRecord{Source: "r1", Hops: 2, Targets: []string{"a", "b"},
			Msg: &mqttfront.Message{Topic: "t", QoS: 2, Retain: true, ReceivedAt: time.UnixMilli(1), Properties: mqttfront.Properties{
				MessageExpiry: 60, MessageExpirySet: true, ResponseTopic: "r", User: []mqttfront.UserProperty{{Key: "k", Value: "v"}}}}},
		b: []byte{
			1, 6, // format 1, kind copy
			2, 'r', '1', // source: the forwarder
			2,      // hops 2
			0,      // publisher "" (injected)
			0,      // username ""
			2,      // received at: varint 1 ms
			2,      // 2 targets
			1, 'a', // target
			1, 'b', // target
			1, 't', // topic
			0,           // payload empty
			2,           // QoS 2
			0x01 | 0x04, // flags: retained, message expiry
			60,          // message expiry 60 s
			0,           // content type ""
			1, 'r',      // response topic
			0, // correlation data none
			1, // 1 user property
			1, 'k', 1, 'v',
		},
	},
	{
		name: "a session and a $share group (typed target), tried at r3",
		rec: copyRecord{Source: "r1", Hops: 1, Targets: []string{"c"}, Groups: []shareTarget{{Filter: "$share/g/t", Tried: []string{"r3"}}},
			Msg: &mqttfront.Message{Topic: "t", Payload: []byte("x"), QoS: 1, ReceivedAt: time.UnixMilli(1)}},
		b: []byte{
			1, 6, // format 1, kind copy
			2, 'r', '1', // source
			1,      // hops 1
			0,      // publisher ""
			0,      // username ""
			2,      // received at: varint 1 ms
			2,      // 2 targets
			1, 'c', // target: session "c"
			0,                                                    // target: "" = a typed target follows
			1,                                                    // target kind 1: $share group
			10, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', // group filter
			1,           // 1 tried replica
			2, 'r', '3', // r3 had no member to take it
			1, 't', // topic
			1, 'x', // payload
			1,    // QoS 1
			0x00, // flags
			0,    // content type ""
			0,    // response topic ""
			0,    // correlation data none
			0,    // 0 user properties
		},
	},
	{
		name: "groups only, none tried",
		rec: copyRecord{Source: "r2", Groups: []shareTarget{{Filter: "$share/a/#"}, {Filter: "$share/b/t/+"}},
			Msg: &mqttfront.Message{Topic: "t/u", QoS: 2}},
		b: []byte{
			1, 6, // format 1, kind copy
			2, 'r', '2', // source
			0,    // hops 0
			0,    // publisher ""
			0,    // username ""
			0,    // received at: none
			2,    // 2 targets
			0, 1, // typed target, kind $share group
			10, '$', 's', 'h', 'a', 'r', 'e', '/', 'a', '/', '#', // group filter
			0,    // none tried
			0, 1, // typed target, kind $share group
			12, '$', 's', 'h', 'a', 'r', 'e', '/', 'b', '/', 't', '/', '+', // group filter
			0,                // none tried
			3, 't', '/', 'u', // topic
			0,    // payload empty
			2,    // QoS 2
			0x00, // flags
			0,    // content type ""
			0,    // response topic ""
			0,    // correlation data none
			0,    // 0 user properties
		},
	},
}

func TestCopyRecordBytes(t *testing.T) {
	for _, tc := range copyRecordCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rec.encode(); !bytes.Equal(got, tc.b) {
				t.Fatalf("encode = % x\nwant     % x", got, tc.b)
			}
			got, err := decodeCopy(tc.b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.rec) {
				t.Fatalf("decode = %+v (msg %+v)\nwant     %+v (msg %+v)", got, got.Msg, tc.rec, tc.rec.Msg)
			}
		})
	}
}

// TestCopyRecordDecodeRefuses: a record of another kind, a newer format,
// a truncated one, one with an empty target (a typed target cut short) or
// a bad typed target is refused, never skipped.
func TestCopyRecordDecodeRefuses(t *testing.T) {
	good := copyRecordCases[0].b
	cases := map[string][]byte{
		"newer format":  append([]byte{2}, good[1:]...),
		"a claim":       {1, kindClaim},
		"truncated":     good[:len(good)-3],
		"trailing byte": append(append([]byte{}, good...), 0),
		"empty target":  {1, 6, 0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0, 0, 0, 0},
		"huge targets":  {1, 6, 0, 0, 0, 0, 0, 0xff, 0xff, 0x03},
		// Typed targets: an unknown kind (a newer replica's), a group
		// filter that is no $share filter, an empty tried replica.
		"unknown target kind": {1, 6, 0, 0, 0, 0, 0, 1, 0, 2, 1, 't', 0, 0, 0, 0, 0, 0, 0},
		"not a share filter":  {1, 6, 0, 0, 0, 0, 0, 1, 0, 1, 1, 't', 0, 1, 't', 0, 0, 0, 0, 0, 0, 0},
		"empty tried replica": {1, 6, 0, 0, 0, 0, 0, 1, 0, 1, 10, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', 1, 0, 1, 't', 0, 0, 0, 0, 0, 0, 0},
	}
	for name, b := range cases {
		if _, err := decodeCopy(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decode = %v; want ErrCorrupt", name, err)
		}
	}
}
