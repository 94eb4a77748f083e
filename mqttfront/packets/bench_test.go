package packets

import (
	"bufio"
	"bytes"
	"strconv"
	"testing"
)

// benchPublish is a QoS 1 PUBLISH of 128 bytes on the wire in v3.1.1.
func benchPublish() *Packet {
	// 2 (fixed header) + 2+20 (topic) + 2 (packet id) + 102 (payload) = 128
	return &Packet{Type: PUBLISH, QoS: 1, PacketID: 4242, Topic: "devices/0042/telemetr",
		Payload: bytes.Repeat([]byte{'p'}, 101)}
}

// benchPublishV5 carries a typical v5 property: a content type.
func benchPublishV5() *Packet {
	p := benchPublish()
	p.Payload = p.Payload[:101-8]
	p.Properties.ContentType = "json" // 1 + 2 + 4 bytes, plus the property length
	return p
}

func benchmarkEncode(b *testing.B, p *Packet, v Version) {
	buf := make([]byte, 0, 512)
	out, err := Encode(buf, p, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Encode(buf[:0], p, v); err != nil {
			b.Fatal(err)
		}
	}
}

// repeatReader serves the same bytes forever without allocating.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

func benchmarkRead(b *testing.B, p *Packet, v Version) {
	raw, err := Encode(nil, p, v)
	if err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReaderSize(&repeatReader{data: raw}, 4096)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Read(br, v, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodePublishV311(b *testing.B) { benchmarkEncode(b, benchPublish(), V311) }
func BenchmarkEncodePublishV5(b *testing.B)   { benchmarkEncode(b, benchPublishV5(), V5) }
func BenchmarkEncodePubackV311(b *testing.B) {
	benchmarkEncode(b, &Packet{Type: PUBACK, PacketID: 4242}, V311)
}
func BenchmarkEncodePubackV5(b *testing.B) {
	benchmarkEncode(b, &Packet{Type: PUBACK, PacketID: 4242, ReasonCode: QuotaExceeded}, V5)
}
func BenchmarkReadPublishV311(b *testing.B) { benchmarkRead(b, benchPublish(), V311) }
func BenchmarkReadPublishV5(b *testing.B)   { benchmarkRead(b, benchPublishV5(), V5) }

// BenchmarkDecodePublishV311 is Decode alone on a body already in memory
// (strings copied, byte slices aliased).
func BenchmarkDecodePublishV311(b *testing.B) {
	raw, _ := Encode(nil, benchPublish(), V311)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(raw[0], raw[2:], V311); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePublishV5(b *testing.B) {
	raw, _ := Encode(nil, benchPublishV5(), V5)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(raw[0], raw[2:], V5); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchPacketSizes(t *testing.T) {
	if n := Size(benchPublish(), V311); n != 128 {
		t.Errorf("v3.1.1 bench PUBLISH is %d bytes; want 128", n)
	}
	if n := Size(benchPublishV5(), V5); n != 128 {
		t.Errorf("v5 bench PUBLISH is %d bytes; want 128", n)
	}
}

// BenchmarkReadPublishLarge reads PUBLISH packets whose body is larger than
// the first read chunk, so the body buffer grows while the bytes arrive.
func BenchmarkReadPublishLarge(b *testing.B) {
	for _, n := range []int{16 << 10, 256 << 10, 1 << 20} {
		b.Run(sizeName(n), func(b *testing.B) {
			p := &Packet{Type: PUBLISH, QoS: 1, PacketID: 1, Topic: "devices/0042/blob", Payload: make([]byte, n)}
			benchmarkRead(b, p, V311)
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n>>10) + "KiB"
}
