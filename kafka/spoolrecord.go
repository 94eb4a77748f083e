package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// spoolRecordVersion is the first byte of every record this package writes
// into the spool. Decoding refuses other versions instead of guessing.
const spoolRecordVersion = 1

const (
	flagKey   = 1 << 0
	flagValue = 1 << 1
)

// errSpoolRecord is wrapped by every decodeSpoolRecord failure.
var errSpoolRecord = errors.New("kafka: bad spool record")

// encodeSpoolRecord appends r (topic, key, headers, value) and ts to dst in
// the versioned spool encoding (see README.md, "Spool record encoding"):
//
//	version uint8 = 1
//	flags   uint8  (bit 0: key present, bit 1: value present)
//	ts      int64  big endian, Unix nanoseconds of acceptance
//	topic   uvarint length + bytes
//	key     uvarint length + bytes   (only with flag bit 0)
//	value   uvarint length + bytes   (only with flag bit 1)
//	headers uvarint count, then per header: uvarint length + key, uvarint length + value
//
// Done and Mode are not stored: a spooled record's device is answered by
// the fsync, and the drainer produces it as a plain record.
func encodeSpoolRecord(dst []byte, r *Record, ts time.Time) []byte {
	var flags byte
	if r.Key != nil {
		flags |= flagKey
	}
	if r.Value != nil {
		flags |= flagValue
	}
	dst = append(dst, spoolRecordVersion, flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts.UnixNano()))
	dst = appendBytes(dst, []byte(r.Topic))
	if r.Key != nil {
		dst = appendBytes(dst, r.Key)
	}
	if r.Value != nil {
		dst = appendBytes(dst, r.Value)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendBytes(dst, []byte(h.Key))
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

// spoolRecordSize is the exact encoded size of r (to allocate once).
func spoolRecordSize(r *Record) int {
	n := 2 + 8 + uvarintLen(len(r.Topic)) + len(r.Topic)
	if r.Key != nil {
		n += uvarintLen(len(r.Key)) + len(r.Key)
	}
	if r.Value != nil {
		n += uvarintLen(len(r.Value)) + len(r.Value)
	}
	n += uvarintLen(len(r.Headers))
	for _, h := range r.Headers {
		n += uvarintLen(len(h.Key)) + len(h.Key) + uvarintLen(len(h.Value)) + len(h.Value)
	}
	return n
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func uvarintLen(n int) int { return uvarintLen64(uint64(n)) }

func uvarintLen64(x uint64) int {
	l := 1
	for ; x >= 0x80; x >>= 7 {
		l++
	}
	return l
}

// decodeSpoolRecord parses data written by encodeSpoolRecord. The returned
// record's byte slices alias data.
func decodeSpoolRecord(data []byte) (*Record, time.Time, error) {
	if len(data) < 10 {
		return nil, time.Time{}, fmt.Errorf("%w: %d bytes is shorter than the fixed header", errSpoolRecord, len(data))
	}
	if data[0] != spoolRecordVersion {
		return nil, time.Time{}, fmt.Errorf("%w: version %d, want %d", errSpoolRecord, data[0], spoolRecordVersion)
	}
	flags := data[1]
	if flags&^(flagKey|flagValue) != 0 {
		return nil, time.Time{}, fmt.Errorf("%w: unknown flags %#x", errSpoolRecord, flags)
	}
	ts := time.Unix(0, int64(binary.BigEndian.Uint64(data[2:10])))
	d := decoder{b: data[10:]}
	r := &Record{Topic: string(d.bytes())}
	if flags&flagKey != 0 {
		r.Key = d.bytes()
	}
	if flags&flagValue != 0 {
		r.Value = d.bytes()
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b))/2 { // each header takes at least 2 bytes
		d.err = fmt.Errorf("%d headers in %d bytes", n, len(d.b))
	}
	if d.err == nil && n > 0 {
		r.Headers = make([]Header, n)
		for i := range r.Headers {
			r.Headers[i] = Header{Key: string(d.bytes()), Value: d.bytes()}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", errSpoolRecord, d.err)
	}
	if r.Topic == "" {
		return nil, time.Time{}, fmt.Errorf("%w: empty topic", errSpoolRecord)
	}
	return r, ts, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad length varint")
		return 0
	}
	if n != uvarintLen64(v) {
		// A padded varint (0x80 0x00 for 0) is never written by the
		// encoder: refuse it, so a record has exactly one encoding.
		d.err = errors.New("non-minimal length varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes reads a length-prefixed field. An empty field decodes as an empty,
// non-nil slice (nil-ness of key and value is carried by the flags).
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("field of %d bytes with %d left", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
