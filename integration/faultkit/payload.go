package faultkit

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"strconv"
)

// Payload returns the deterministic body of message seq for key, size bytes
// long (at least the header "key seq size "): the key, the zero-padded
// sequence number and length, then letters derived from them, so a flipped
// or missing byte anywhere is detected by ParsePayload and the body does
// not compress away.
func Payload(key string, seq, size int) []byte {
	b := fmt.Appendf(make([]byte, 0, size), "%s %09d ", key, seq)
	b = fmt.Appendf(b, "%06d ", max(size, len(b)+7))
	h := fnv.New64a()
	h.Write(b)
	x := h.Sum64() | 1
	for len(b) < size {
		// xorshift64: cheap, deterministic filler.
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, 'a'+byte(x%26))
	}
	return b
}

// ParsePayload returns the key and sequence number of a body made by
// Payload, and whether it is exactly what Payload makes for them.
func ParsePayload(b []byte) (key string, seq int, ok bool) {
	i := bytes.IndexByte(b, ' ')
	if i <= 0 || len(b) < i+18 || b[i+10] != ' ' || b[i+17] != ' ' {
		return "", 0, false
	}
	n, err1 := strconv.Atoi(string(b[i+1 : i+10]))
	size, err2 := strconv.Atoi(string(b[i+11 : i+17]))
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	key = string(b[:i])
	return key, n, size == len(b) && bytes.Equal(b, Payload(key, n, size))
}
