package cluster

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestClaimRecordBytes(t *testing.T) {
	r := claimRecord{Owner: "r1", Incarnation: 300, CleanStart: true, Version: 5, Expiry: 60, At: time.UnixMilli(1)}
	want := []byte{
		1, 1, // format 1, kind claim
		2, 'r', '1', // owner
		0xac, 0x02, // incarnation 300 (uvarint)
		0x01, // flags: clean start
		5,    // protocol version
		60,   // expiry
		2,    // time: 1 ms (zigzag varint)
	}
	if got := r.encode(); !reflect.DeepEqual(got, want) {
		t.Fatalf("encode = % x; want % x", got, want)
	}
	back, err := decodeClaim(want)
	if err != nil || back.Owner != r.Owner || back.Incarnation != r.Incarnation || !back.CleanStart || back.Version != 5 || back.Expiry != 60 || !back.At.Equal(r.At) {
		t.Fatalf("decodeClaim = %+v, %v; want %+v", back, err, r)
	}
}

func TestRecordDecodeRefuses(t *testing.T) {
	good := claimRecord{Owner: "r1", Incarnation: 1}.encode()
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"newer format", append([]byte{2}, good[1:]...)},
		{"wrong kind", append([]byte{1, kindHeartbeat}, good[2:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"owner longer than record", []byte{1, 1, 100, 'x'}},
		{"unknown flag", claimRecord{Owner: "r"}.encode()[:4:4]},
	}
	cases[len(cases)-1].b = append(cases[len(cases)-1].b, 0x02, 5, 0, 0)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeClaim(tc.b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeClaim(% x) = %v; want ErrCorrupt", tc.b, err)
			}
		})
	}
}

func TestHeartbeatRoundTrip(t *testing.T) {
	r := heartbeatRecord{Incarnation: 7, State: replicaAlive, Seq: 9, StartedAt: time.UnixMilli(1700000000123), Admin: ":8080", MQTT: "tcp=:1883"}
	back, err := decodeHeartbeat(r.encode())
	if err != nil || back.Incarnation != 7 || back.State != replicaAlive || back.Seq != 9 || !back.StartedAt.Equal(r.StartedAt) || back.Admin != r.Admin || back.MQTT != r.MQTT {
		t.Fatalf("decodeHeartbeat = %+v, %v; want %+v", back, err, r)
	}
	bad := r.encode()
	bad[3] = 9 // state
	if _, err := decodeHeartbeat(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("state 9: %v; want ErrCorrupt", err)
	}
}
