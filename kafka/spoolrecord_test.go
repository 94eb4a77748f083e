package kafka

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestSpoolRecordRoundTrip(t *testing.T) {
	ts := time.Unix(1700000000, 123456789)
	for _, tc := range []struct {
		name string
		rec  Record
	}{
		{"minimal", Record{Topic: "t"}},
		{"key and value", Record{Topic: "iot.telemetry", Key: []byte("dev-1"), Value: []byte(`{"t":21.5}`)}},
		{"empty key and value are not nil", Record{Topic: "t", Key: []byte{}, Value: []byte{}}},
		{"headers", Record{Topic: "t", Value: []byte{0, 0xff}, Headers: []Header{{Key: "mqtt_topic", Value: []byte("a/b")}, {Key: "empty", Value: []byte{}}}}},
		{"long value", Record{Topic: "t", Key: []byte("k"), Value: bytes.Repeat([]byte("x"), 70000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := encodeSpoolRecord(nil, &tc.rec, ts)
			if n := spoolRecordSize(&tc.rec); n != len(data) {
				t.Errorf("spoolRecordSize = %d; encoded %d bytes", n, len(data))
			}
			got, gts, err := decodeSpoolRecord(data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !gts.Equal(ts) {
				t.Errorf("timestamp %v; want %v", gts, ts)
			}
			want := tc.rec
			if len(want.Headers) == 0 {
				want.Headers = nil
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("decoded %+v; want %+v", *got, want)
			}
		})
	}
}

func TestSpoolRecordRejects(t *testing.T) {
	good := encodeSpoolRecord(nil, &Record{Topic: "t", Key: []byte("k"), Value: []byte("v"), Headers: []Header{{Key: "h", Value: []byte("x")}}}, time.Unix(0, 0))
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", good[:5]},
		{"version 2", append([]byte{2}, good[1:]...)},
		{"unknown flag", append([]byte{1, 0x80}, good[2:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"empty topic", encodeSpoolRecord(nil, &Record{}, time.Unix(0, 0))},
		// version 1, no flags, ts 0, topic length 1 padded to two bytes (0x81 0x00), "t", 0 headers
		{"padded varint", []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x00, 't', 0}},
		{"huge header count", append(append([]byte(nil), good[:len(good)-5]...), 0xff, 0xff, 0xff, 0xff, 0x0f)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeSpoolRecord(tc.data); !errors.Is(err, errSpoolRecord) {
				t.Errorf("decode(%x) = %v; want errSpoolRecord", tc.data, err)
			}
		})
	}
}

func FuzzSpoolRecord(f *testing.F) {
	f.Add(encodeSpoolRecord(nil, &Record{Topic: "t", Key: []byte("k"), Value: []byte("v"), Headers: []Header{{Key: "h", Value: []byte("x")}}}, time.Unix(1, 2)))
	f.Add(encodeSpoolRecord(nil, &Record{Topic: "x"}, time.Unix(0, 0)))
	f.Add([]byte{1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 1, 't', 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, ts, err := decodeSpoolRecord(data)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes.
		again := encodeSpoolRecord(nil, r, ts)
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoded %x; want %x", again, data)
		}
	})
}

func BenchmarkSpoolRecordEncode(b *testing.B) {
	r := &Record{Topic: "iot.telemetry", Key: []byte("device-42"), Value: make([]byte, 128), Headers: []Header{{Key: "mqtt_topic", Value: []byte("devices/device-42/telemetry")}}}
	ts := time.Now()
	buf := make([]byte, 0, spoolRecordSize(r))
	b.ReportAllocs()
	b.SetBytes(int64(len(r.Value)))
	for b.Loop() {
		buf = encodeSpoolRecord(buf[:0], r, ts)
	}
}

func BenchmarkSpoolRecordDecode(b *testing.B) {
	r := &Record{Topic: "iot.telemetry", Key: []byte("device-42"), Value: make([]byte, 128), Headers: []Header{{Key: "mqtt_topic", Value: []byte("devices/device-42/telemetry")}}}
	data := encodeSpoolRecord(nil, r, time.Now())
	b.ReportAllocs()
	b.SetBytes(int64(len(r.Value)))
	for b.Loop() {
		if _, _, err := decodeSpoolRecord(data); err != nil {
			b.Fatal(err)
		}
	}
}
