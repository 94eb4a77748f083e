package packets

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
	"testing/iotest"
)

// TestReadFragments feeds every fixture of a version, back to back, through a
// reader that returns one byte per call, as a slow network would.
func TestReadFragments(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		var stream []byte
		var want []*Packet
		fixtures := Fixtures()
		for i := range fixtures {
			f := &fixtures[i]
			if f.Version == v || v == V311 && f.Version == V31 {
				stream = append(stream, f.Raw...)
				want = append(want, &f.Packet)
			}
		}
		t.Run(fmtVersion(v), func(t *testing.T) {
			br := bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(stream)), 16)
			for i, w := range want {
				got, err := Read(br, v, 0)
				if err != nil {
					t.Fatalf("packet %d (%s): %v", i, w.Type, err)
				}
				if !reflect.DeepEqual(got, w) {
					t.Fatalf("packet %d = %+v; want %+v", i, got, w)
				}
			}
			if _, err := Read(br, v, 0); err != io.EOF {
				t.Fatalf("Read at end = %v; want io.EOF", err)
			}
		})
	}
}

func fmtVersion(v Version) string {
	switch v {
	case V31:
		return "v3.1"
	case V311:
		return "v3.1.1"
	}
	return "v5"
}

// panicReader fails the test if Read asks it for anything.
type panicReader struct{ t *testing.T }

func (r panicReader) Read([]byte) (int, error) {
	r.t.Fatal("Read consumed the body of a packet that is too large")
	return 0, nil
}

func TestReadPacketTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		header  []byte
		maxSize uint32
	}{
		{"one over", []byte{0x30, 0x0A}, 11},                        // 12 bytes, max 11
		{"three-byte length", []byte{0x30, 0x80, 0x80, 0x01}, 1000}, // 16388 bytes
		{"largest length", []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, DefaultMaxPacketSize - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(io.MultiReader(bytes.NewReader(tc.header), panicReader{t}))
			p, err := Read(br, V311, tc.maxSize)
			if Code(err) != PacketTooLarge || p != nil {
				t.Fatalf("Read = %v, %v; want PacketTooLarge", p, err)
			}
		})
	}
	// At the limit exactly the packet is read.
	raw := []byte{0x30, 0x05, 0x00, 0x01, 't', 'h', 'i'}
	if _, err := Read(bufio.NewReader(bytes.NewReader(raw)), V311, uint32(len(raw))); err != nil {
		t.Fatalf("Read at the limit: %v", err)
	}
}

func TestReadIOErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"no remaining length", []byte{0x30}, io.ErrUnexpectedEOF},
		{"truncated remaining length", []byte{0x30, 0x80}, io.ErrUnexpectedEOF},
		{"truncated body", []byte{0x30, 0x05, 0x00, 0x01}, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bufio.NewReader(bytes.NewReader(tc.raw)), V311, 0)
			if err != tc.want {
				t.Fatalf("Read = %v; want %v", err, tc.want)
			}
		})
	}
	boom := errors.New("boom")
	_, err := Read(bufio.NewReader(iotest.ErrReader(boom)), V311, 0)
	if err != boom {
		t.Fatalf("Read = %v; want the reader's error unwrapped", err)
	}
}

// TestReadOwnsMemory checks that a packet survives the reuse of the reader's
// buffer: its topic, payload and properties are not aliases of it.
func TestReadOwnsMemory(t *testing.T) {
	first := []byte{0x30, 0x0D, 0x00, 0x03, 'a', '/', 'b', 0x05, 0x26, 0x00, 0x00, 0x00, 0x00, 'h', 'i'}
	first[1] = byte(len(first) - 2)
	src := append(append([]byte{}, first...), first...)
	br := bufio.NewReaderSize(bytes.NewReader(src), 16)
	p, err := Read(br, V5, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the reader's buffer by reading the next packet, then the
	// source itself.
	if _, err := Read(br, V5, 0); err != nil {
		t.Fatal(err)
	}
	for i := range src {
		src[i] = 'X'
	}
	if p.Topic != "a/b" || string(p.Payload) != "hi" {
		t.Fatalf("packet changed with the reader's buffer: %q %q", p.Topic, p.Payload)
	}
}

func TestDecodeNonMinimalRemainingLengthAccepted(t *testing.T) {
	// §1.5.5: the receiver does not require the minimal encoding.
	raw := []byte{0x40, 0x82, 0x80, 0x80, 0x00, 0x00, 0x01}
	p, err := readOne(t, raw, V311)
	if err != nil || p.Type != PUBACK || p.PacketID != 1 {
		t.Fatalf("Read = %+v, %v; want PUBACK 1", p, err)
	}
}

// stallReader serves data, then fails with err (a peer that announced more
// than it sent).
type stallReader struct {
	data []byte
	err  error
}

func (r *stallReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadGrowsAsBytesArrive: a header announcing 1 MiB followed by a few
// bytes must not allocate the announced size; the body buffer grows with
// the bytes that arrive (issue 10: 1,000 such sockets took 1 GB).
func TestReadGrowsAsBytesArrive(t *testing.T) {
	announced := 1<<20 - 8
	for _, sent := range []int{10, 5000, 100000} {
		raw := appendVarInt([]byte{0x30}, uint32(announced))
		raw = append(raw, 0, 1, 't')
		raw = append(raw, make([]byte, sent-3)...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Read(bufio.NewReaderSize(&stallReader{data: raw, err: io.EOF}, 4096), V311, 0)
		runtime.ReadMemStats(&after)
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("Read of a truncated PUBLISH: %v; want io.ErrUnexpectedEOF", err)
		}
		// The bufio.Reader (4 KiB) plus buffers growing fourfold, each at
		// most 8 times what arrived before it: in all, well under 8 times
		// what arrived (the unfixed Read took the announced 1 MiB).
		limit := uint64(4096 + 8*max(sent, 4096) + 1024)
		if got := after.TotalAlloc - before.TotalAlloc; got > limit {
			t.Errorf("%d of %d announced bytes sent: Read allocated %d bytes; want <= %d", sent, announced, got, limit)
		}
	}
}
