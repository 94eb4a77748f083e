package faultkit

import "testing"

func TestPayloadRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		key  string
		seq  int
		size int
	}{
		{"dev-c00-d00", 1, 64},
		{"dev-c09-d03", 123456, 512},
		{"k", 0, 11}, // shorter than the header: grows to fit
	} {
		b := Payload(tc.key, tc.seq, tc.size)
		if len(b) < tc.size {
			t.Errorf("Payload(%q, %d, %d) has %d bytes; want at least %d", tc.key, tc.seq, tc.size, len(b), tc.size)
		}
		key, seq, ok := ParsePayload(b)
		if !ok || key != tc.key || seq != tc.seq {
			t.Errorf("ParsePayload(Payload(%q, %d)) = %q, %d, %v; want %q, %d, true", tc.key, tc.seq, key, seq, ok, tc.key, tc.seq)
		}
	}
}

func TestParsePayloadRejectsDamage(t *testing.T) {
	good := Payload("dev-c01-d02", 42, 200)
	flip := append([]byte(nil), good...)
	flip[150] ^= 0x01
	for name, b := range map[string][]byte{
		"flipped body":   flip,
		"truncated":      good[:len(good)-3],
		"empty":          nil,
		"no header":      []byte("garbage"),
		"bad seq digits": []byte("k 00000x042 000020 abc"),
	} {
		if _, _, ok := ParsePayload(b); ok {
			t.Errorf("ParsePayload(%s) ok; want rejected", name)
		}
	}
}
