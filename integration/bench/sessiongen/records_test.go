package main

import (
	"bytes"
	"testing"
	"time"
)

// TestRecordBytes pins the generated records to the layout of
// cluster/README.md, byte by byte.
func TestRecordBytes(t *testing.T) {
	s := &session{ClientID: "c1", Owner: "r9", Incarnation: 3, Version: 4, Expiry: 0xFFFFFFFF,
		Filters: []string{"a/b"}, At: time.UnixMilli(1000)}
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"claim", s.claim(), []byte{
			1, 1, // format 1, kind claim
			2, 'r', '9', // owner
			3,                            // incarnation
			0,                            // flags: not clean start, no user name, not bound
			4,                            // version 3.1.1
			0xff, 0xff, 0xff, 0xff, 0x0f, // expiry 0xFFFFFFFF (uvarint)
			0xd0, 0x0f, // time 1000 ms (zigzag varint 2000)
		}},
		{"state offline", s.state(300, true), []byte{
			1, 2, // format 1, kind state
			0xac, 0x02, // epoch 300
			2, 'r', '9', // owner
			3,                            // incarnation
			0,                            // user name ""
			4,                            // version
			0xff, 0xff, 0xff, 0xff, 0x0f, // expiry
			0x01,       // flags: disconnected
			0xd0, 0x0f, // disconnected at 1000 ms
			1,                // 1 subscription
			3, 'a', '/', 'b', // filter
			1, 0, 0, // QoS 1, no flags, retain handling 0
			0, // subscription id none
			0, // no QoS 2 ids
		}},
		{"state online", s.state(1, false)[:14], []byte{
			1, 2, // format 1, kind state
			1,           // epoch 1
			2, 'r', '9', // owner
			3,                            // incarnation
			0,                            // user name ""
			4,                            // version
			0xff, 0xff, 0xff, 0xff, 0x0f, // expiry
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Equal(tc.got, tc.want) {
				t.Errorf("got  % x\nwant % x", tc.got, tc.want)
			}
		})
	}
	if on := s.state(1, false); on[14] != 0 || on[15] != 1 {
		t.Errorf("online state: flags %#x, then %d subscriptions; want flags 0 and 1", on[14], on[15])
	}
}
