package cluster

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
)

// TestHandoverRecordBytes: the fence, held and done records as annotated
// bytes; encode and decode walk the same table.
func TestHandoverRecordBytes(t *testing.T) {
	held := heldRecord{Source: "r1", ClientID: "c", Epoch: 300, Index: 1, Held: mqttfront.HeldMessage{
		Msg:    &mqttfront.Message{Topic: "t", Payload: []byte("x"), QoS: 2, ClientID: "p", ReceivedAt: time.UnixMilli(1)},
		QoS:    2,
		Retain: true, SubIDs: []uint32{5}, PacketID: 9, State: store.StateReleased}}
	cases := []struct {
		name   string
		rec    interface{ encode() []byte }
		b      []byte
		decode func([]byte) (any, error)
	}{
		{
			name: "fence",
			rec:  fenceRecord{Source: "r2", Next: []int64{0, 200}},
			b: []byte{
				1, 7, // format 1, kind fence
				2, 'r', '2', // source replica
				2,          // 2 sessions partitions
				0,          // partition 0: next offset 0
				0xc8, 0x01, // partition 1: next offset 200
			},
			decode: func(b []byte) (any, error) { return decodeFence(b) },
		},
		{
			name: "held, inflight and released",
			rec:  held,
			b: []byte{
				1, 10, // format 1, kind held
				2, 'r', '1', // source: the old owner
				1, 'c', // client id
				0xac, 0x02, // epoch 300: the new owner's claim
				1,    // index 1 in the handover
				2,    // state: released (PUBREL sent)
				9,    // packet id 9
				2,    // QoS granted 2
				0x01, // flags: retain as delivered
				1, 5, // 1 subscription id: 5
				1, 'p', // publisher
				0,      // username ""
				2,      // received at: varint 1 ms
				1, 't', // topic
				1, 'x', // payload
				2,          // message QoS 2
				0x00,       // message flags
				0, 0, 0, 0, // content type, response topic, correlation, 0 user properties
			},
			decode: func(b []byte) (any, error) { return decodeHeld(b) },
		},
		{
			name: "done",
			rec:  doneRecord{Source: "r1", ClientID: "c", Epoch: 300, Held: 2, InboundQoS2: []uint16{7, 300}},
			b: []byte{
				1, 8, // format 1, kind handover done
				2, 'r', '1', // source
				1, 'c', // client id
				0xac, 0x02, // epoch 300
				2,          // 2 held records precede it
				2,          // 2 inbound QoS 2 ids
				7,          // 7
				0xac, 0x02, // 300
			},
			decode: func(b []byte) (any, error) { return decodeDone(b) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rec.encode(); !bytes.Equal(got, tc.b) {
				t.Fatalf("encode = % x\nwant     % x", got, tc.b)
			}
			got, err := tc.decode(tc.b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.rec) {
				t.Fatalf("decode = %+v\nwant     %+v", got, tc.rec)
			}
			if k, err := inboxKind(tc.b); err != nil || k != tc.b[1] {
				t.Fatalf("inboxKind = %d, %v; want %d", k, err, tc.b[1])
			}
		})
	}
}

// TestHandoverRecordRefuses: bad records are refused (the reader stops),
// never skipped.
func TestHandoverRecordRefuses(t *testing.T) {
	cases := []struct {
		name   string
		b      []byte
		decode func([]byte) error
	}{
		{"held: queued with a packet id", []byte{1, 10, 0, 1, 'c', 1, 0, 0, 5, 1, 0, 0, 0, 0, 0, 1, 't', 0, 1, 0, 0, 0, 0, 0},
			func(b []byte) error { _, err := decodeHeld(b); return err }},
		{"held: QoS 0", []byte{1, 10, 0, 1, 'c', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 't', 0, 0, 0, 0, 0, 0, 0},
			func(b []byte) error { _, err := decodeHeld(b); return err }},
		{"held: empty client", []byte{1, 10, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 't', 0, 1, 0, 0, 0, 0, 0},
			func(b []byte) error { _, err := decodeHeld(b); return err }},
		{"done: inbound id 0", []byte{1, 8, 0, 1, 'c', 1, 0, 1, 0},
			func(b []byte) error { _, err := decodeDone(b); return err }},
		{"done: trailing byte", []byte{1, 8, 0, 1, 'c', 1, 0, 0, 0},
			func(b []byte) error { _, err := decodeDone(b); return err }},
		{"fence: truncated", []byte{1, 7, 0, 2, 0},
			func(b []byte) error { _, err := decodeFence(b); return err }},
		{"inbox: a claim", []byte{1, kindClaim},
			func(b []byte) error { _, err := inboxKind(b); return err }},
	}
	for _, tc := range cases {
		if err := tc.decode(tc.b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v; want ErrCorrupt", tc.name, err)
		}
	}
}
