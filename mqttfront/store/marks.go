package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Marks are positions in an outside log that the broker has applied, kept
// in the same transaction as the messages their records queued, so that a
// log read again from an older position can skip what was already
// applied (cluster mode: a replica's inbox offsets, README.md "Marks").
// A mark is a name (the log: topic and partition) and the next position
// to apply.

// PutMark adds "name's next position is next" to the batch. Written with
// the messages of the record at next-1, it makes them and the mark durable
// together.
func (b *Batch) PutMark(name string, next uint64) {
	var invalid error
	if len(name) > maxMarkName {
		invalid = fmt.Errorf("%w: mark name longer than %d bytes", ErrInvalid, maxMarkName)
	}
	b.add(mutation{kind: putMark, name: []byte(name), val: binary.BigEndian.AppendUint64(nil, next), label: quote(name)}, name == "", invalid)
}

// maxMarkName bounds a mark's name (it is the key as is).
const maxMarkName = 1024

// Marks calls fn for every mark, in key order, stopping at the first
// error.
func (s *Store) Marks(fn func(name string, next uint64) error) error {
	type mark struct {
		name string
		next uint64
	}
	return scan(s, func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketMarks) },
		func(_ *bolt.Tx, k, v []byte) (mark, error) {
			if len(v) != 8 || len(k) == 0 {
				return mark{}, &CorruptError{Record: "mark", Key: fmt.Sprintf("%q", k), Err: fmt.Errorf("%w: %d-byte value", ErrCorrupt, len(v))}
			}
			return mark{name: string(k), next: binary.BigEndian.Uint64(v)}, nil
		},
		func(m mark) error { return fn(m.name, m.next) })
}
