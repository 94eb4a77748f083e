package benchkit

import (
	"encoding/binary"
	"errors"
	"time"
)

// Payload layout (big endian), then zero padding up to the requested size:
//
//	0..1   magic 0xB3 0x7C
//	2..9   send time, Unix nanoseconds
//	10..17 sequence number, per client, from 0
//	18..19 client id length L
//	20..   client id (L bytes)
const (
	magic0, magic1 = 0xB3, 0x7C
	headerLen      = 20
)

// ErrNotBench is returned by DecodePayload for bytes that are not a bench payload.
var ErrNotBench = errors.New("not a mqttbench payload")

// EncodePayload writes a payload of at least size bytes into buf (reused when
// large enough) and returns it. A size smaller than the header is raised to it.
func EncodePayload(buf []byte, client string, seq uint64, sent time.Time, size int) []byte {
	n := headerLen + len(client)
	if size < n {
		size = n
	}
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	buf[0], buf[1] = magic0, magic1
	binary.BigEndian.PutUint64(buf[2:], uint64(sent.UnixNano()))
	binary.BigEndian.PutUint64(buf[10:], seq)
	binary.BigEndian.PutUint16(buf[18:], uint16(len(client)))
	copy(buf[headerLen:], client)
	clear(buf[n:])
	return buf
}

// DecodePayload reads the header of a bench payload.
func DecodePayload(b []byte) (client string, seq uint64, sent time.Time, err error) {
	if len(b) < headerLen || b[0] != magic0 || b[1] != magic1 {
		return "", 0, time.Time{}, ErrNotBench
	}
	l := int(binary.BigEndian.Uint16(b[18:]))
	if len(b) < headerLen+l {
		return "", 0, time.Time{}, ErrNotBench
	}
	sent = time.Unix(0, int64(binary.BigEndian.Uint64(b[2:])))
	return string(b[headerLen : headerLen+l]), binary.BigEndian.Uint64(b[10:]), sent, nil
}
