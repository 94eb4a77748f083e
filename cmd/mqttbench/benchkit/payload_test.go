package benchkit

import (
	"errors"
	"testing"
	"time"
)

func TestPayloadRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 123456789)
	tests := []struct {
		client string
		seq    uint64
		size   int
		want   int
	}{
		{"bench0", 0, 128, 128},
		{"a-long-client-id-0123456789", 1 << 40, 16, 20 + 27}, // raised to the header
		{"", 7, 4096, 4096},
	}
	for _, tc := range tests {
		b := EncodePayload(nil, tc.client, tc.seq, now, tc.size)
		if len(b) != tc.want {
			t.Errorf("len = %d, want %d", len(b), tc.want)
		}
		c, s, ts, err := DecodePayload(b)
		if err != nil || c != tc.client || s != tc.seq || !ts.Equal(now) {
			t.Errorf("decode = %q %d %v %v; want %q %d %v", c, s, ts, err, tc.client, tc.seq, now)
		}
	}
}

func TestPayloadRejects(t *testing.T) {
	good := EncodePayload(nil, "abc", 1, time.Now(), 0)
	for name, b := range map[string][]byte{
		"empty":        nil,
		"short":        good[:10],
		"bad magic":    append([]byte{0, 0}, good[2:]...),
		"truncated id": good[:len(good)-1],
	} {
		if _, _, _, err := DecodePayload(b); !errors.Is(err, ErrNotBench) {
			t.Errorf("%s: err = %v, want ErrNotBench", name, err)
		}
	}
}

func TestParseSourceIPs(t *testing.T) {
	ips, err := ParseSourceIPs("127.0.0.1-127.0.0.3, 127.0.0.9")
	if err != nil || len(ips) != 4 || ips[2].String() != "127.0.0.3" || ips[3].String() != "127.0.0.9" {
		t.Fatalf("got %v %v", ips, err)
	}
	for _, bad := range []string{"x", "127.0.0.5-127.0.0.1", "127.0.0.1-127.0.1.2"} {
		if _, err := ParseSourceIPs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestConnectPacket(t *testing.T) {
	got := connectPacket("ab", true, 60*time.Second)
	want := []byte{
		0x10, 14, // CONNECT, remaining length
		0, 4, 'M', 'Q', 'T', 'T', // protocol name
		4,     // level 3.1.1
		0x02,  // clean session
		0, 60, // keepalive
		0, 2, 'a', 'b', // client id
	}
	if string(got) != string(want) {
		t.Errorf("connectPacket = % x, want % x", got, want)
	}
}
