package packets

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"
)

// readOne reads raw as one packet through Read and checks nothing is left.
func readOne(t *testing.T, raw []byte, v Version) (*Packet, error) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(raw))
	p, err := Read(br, v, 0)
	if err == nil && br.Buffered() != 0 {
		t.Errorf("Read left %d bytes unread", br.Buffered())
	}
	return p, err
}

// splitHeader returns the first byte and the body of a whole packet.
func splitHeader(t *testing.T, raw []byte) (byte, []byte) {
	t.Helper()
	n, used, err := parseVarInt(raw[1:])
	if err != nil {
		t.Fatalf("fixture header: %v", err)
	}
	body := raw[1+used:]
	if int(n) != len(body) {
		t.Fatalf("fixture remaining length %d, but %d body bytes", n, len(body))
	}
	return raw[0], body
}

func TestDecodeFixtures(t *testing.T) {
	for _, f := range Fixtures() {
		t.Run(f.Name, func(t *testing.T) {
			first, body := splitHeader(t, f.Raw)
			got, err := Decode(first, body, f.Version)
			if err != nil {
				t.Fatalf("Decode %s: %v", f.Spec, err)
			}
			if !reflect.DeepEqual(got, &f.Packet) {
				t.Errorf("Decode %s =\n%+v\nwant\n%+v", f.Spec, got, &f.Packet)
			}
			got, err = readOne(t, f.Raw, f.Version)
			if err != nil {
				t.Fatalf("Read %s: %v", f.Spec, err)
			}
			if !reflect.DeepEqual(got, &f.Packet) {
				t.Errorf("Read %s =\n%+v\nwant\n%+v", f.Spec, got, &f.Packet)
			}
		})
	}
}

func TestEncodeFixtures(t *testing.T) {
	for _, f := range Fixtures() {
		if f.DecodeOnly {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			got, err := Encode(nil, &f.Packet, f.Version)
			if err != nil {
				t.Fatalf("Encode %s: %v", f.Spec, err)
			}
			if !bytes.Equal(got, f.Raw) {
				t.Errorf("Encode %s =\n% X\nwant\n% X", f.Spec, got, f.Raw)
			}
			if n := Size(&f.Packet, f.Version); n != len(f.Raw) {
				t.Errorf("Size = %d; want %d", n, len(f.Raw))
			}
			// Encode appends: a prefix in dst is kept.
			pre := []byte{0xAA, 0xBB}
			got, err = Encode(pre, &f.Packet, f.Version)
			if err != nil || !bytes.Equal(got[:2], pre) || !bytes.Equal(got[2:], f.Raw) {
				t.Errorf("Encode with prefix = % X, %v; want AA BB % X", got, err, f.Raw)
			}
		})
	}
}

// TestDecodeCopiesStrings: Decode may alias body for byte slices, but its
// strings must survive the caller reusing body.
func TestDecodeCopiesStrings(t *testing.T) {
	raw := []byte{0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x01, 'h', 'i'}
	p, err := Decode(raw[0], raw[2:], V311)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 'X'
	}
	if p.Topic != "a/b" {
		t.Fatalf("Topic = %q after body reuse; want a/b", p.Topic)
	}
}

// TestEncodeConnectDefaults: a CONNECT without name or level is encoded for
// the version given, with that version's protocol name.
func TestEncodeConnectDefaults(t *testing.T) {
	for _, tc := range []struct {
		v    Version
		name string
	}{{V31, "MQIsdp"}, {V311, "MQTT"}, {V5, "MQTT"}} {
		p := Packet{Type: CONNECT, Connect: Connect{ClientID: "c"}}
		b, err := Encode(nil, &p, tc.v)
		if err != nil {
			t.Fatal(err)
		}
		q, err := readOne(t, b, V311)
		if err != nil || q.Connect.ProtocolName != tc.name || q.Connect.ProtocolVersion != tc.v {
			t.Fatalf("v%d: read back %+v, %v; want %s level %d", tc.v, q, err, tc.name, tc.v)
		}
	}
}

// TestEncodeConnackV31 drops Session Present, which MQTT 3.1 does not have.
func TestEncodeConnackV31(t *testing.T) {
	b, err := Encode(nil, &Packet{Type: CONNACK, SessionPresent: true}, V31)
	if want := []byte{0x20, 0x02, 0x00, 0x00}; err != nil || !bytes.Equal(b, want) {
		t.Fatalf("Encode = % X, %v; want % X", b, err, want)
	}
}

// TestConnectVersionFromPacket: CONNECT is decoded by its own level whatever
// version the caller passes.
func TestConnectVersionFromPacket(t *testing.T) {
	for _, f := range Fixtures() {
		if f.Packet.Type != CONNECT {
			continue
		}
		for _, v := range []Version{V31, V311, V5} {
			p, err := readOne(t, f.Raw, v)
			if err != nil || !reflect.DeepEqual(p, &f.Packet) {
				t.Errorf("%s read as v%d = %+v, %v", f.Name, v, p, err)
			}
		}
	}
}
