package store

import (
	"bytes"
	"errors"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// scan walks a bucket in key order, decoding up to iterChunk records per
// read transaction and calling fn for each outside the transaction. fn may
// therefore call any Store method (a write inside a read transaction could
// deadlock against bbolt's remap). The walk is not a snapshot: records
// written while it runs may or may not be seen, each key at most once.
func scan[T any](s *Store, bucket func(*bolt.Tx) *bolt.Bucket, decode func(tx *bolt.Tx, k, v []byte) (T, error), fn func(T) error) error {
	var after []byte
	started := false
	chunk := make([]T, 0, iterChunk)
	for {
		chunk = chunk[:0]
		done := false
		err := s.view(func(tx *bolt.Tx) error {
			b := bucket(tx)
			if b == nil {
				done = true
				return nil
			}
			c := b.Cursor()
			var k, v []byte
			if !started {
				k, v = c.First()
			} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil; k, v = c.Next() {
				if v == nil {
					continue // a nested bucket
				}
				t, err := decode(tx, k, v)
				if err != nil {
					var ce *CorruptError
					if s.skipCorrupt && errors.As(err, &ce) {
						s.corrupt.Add(1)
						s.log.Error("store: skipping corrupt record",
							zap.String("record", ce.Record), zap.String("key", ce.Key), zap.Error(ce.Err))
						after = append(after[:0], k...)
						continue
					}
					return err
				}
				chunk = append(chunk, t)
				after = append(after[:0], k...)
				if len(chunk) == iterChunk {
					return nil
				}
			}
			done = true
			return nil
		})
		if err != nil {
			return err
		}
		started = true
		for _, t := range chunk {
			if err := fn(t); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}
