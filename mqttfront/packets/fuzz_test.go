package packets

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecode reads one packet from data[1:], with data[0] choosing the
// version (odd: v5, even: v3.1.1; CONNECT carries its own). Decoding must
// never panic, and a packet that decodes must encode, and that encoding must
// decode to an equal packet.
func FuzzDecode(f *testing.F) {
	for _, fx := range Fixtures() {
		sel := byte(0)
		if fx.Version == V5 {
			sel = 1
		}
		f.Add(append([]byte{sel}, fx.Raw...))
	}
	for _, m := range malformedCases {
		sel := byte(0)
		if m.version == V5 {
			sel = 1
		}
		f.Add(append([]byte{sel}, m.raw...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		v := V311
		if data[0]&1 == 1 {
			v = V5
		}
		p, err := Read(bufio.NewReader(bytes.NewReader(data[1:])), v, 1<<20)
		if err != nil {
			if p != nil && p.Type != CONNECT {
				t.Fatalf("Read returned %s with error %v", p.Type, err)
			}
			return
		}
		enc, err := Encode(nil, p, v)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", p, err)
		}
		if n := Size(p, v); n != len(enc) {
			t.Fatalf("Size %d; encoded %d bytes", n, len(enc))
		}
		q, err := Read(bufio.NewReader(bytes.NewReader(enc)), v, 0)
		if err != nil {
			t.Fatalf("re-encoded % X does not decode: %v", enc, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the packet:\n%+v\n%+v", p, q)
		}
		// Decode (strings copied) agrees with Read (strings shared).
		_, used, err := parseVarInt(enc[1:])
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decode(enc[0], enc[1+used:], v)
		if err != nil || !reflect.DeepEqual(p, r) {
			t.Fatalf("Decode = %+v, %v; want %+v", r, err, p)
		}
	})
}
