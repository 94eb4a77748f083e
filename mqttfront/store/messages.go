package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutMessage inserts or replaces the outbound message seq of clientID. The
// caller chooses seq, increasing per session; Messages returns them in seq
// order.
func (s *Store) PutMessage(clientID string, seq uint64, m *Message) error {
	if clientID == "" {
		return fmt.Errorf("put message: %w", ErrEmptyKey)
	}
	if err := validMessage(m); err != nil {
		return fmt.Errorf("put message %q/%d: %w", clientID, seq, err)
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	*buf = appendMessage((*buf)[:0], m)
	err := s.commit(mutation{kind: putMessage, name: nameKey(clientID), seq: seqKey(seq), val: *buf})
	if err != nil {
		return fmt.Errorf("put message %q/%d: %w", clientID, seq, err)
	}
	return nil
}

// DeleteMessage removes message seq of clientID. Deleting a missing message
// is not an error.
func (s *Store) DeleteMessage(clientID string, seq uint64) error {
	if clientID == "" {
		return fmt.Errorf("delete message: %w", ErrEmptyKey)
	}
	if err := s.commit(mutation{kind: deleteMessage, name: nameKey(clientID), seq: seqKey(seq)}); err != nil {
		return fmt.Errorf("delete message %q/%d: %w", clientID, seq, err)
	}
	return nil
}

type seqMessage struct {
	seq uint64
	m   *Message
}

// Messages calls fn for each stored message of clientID in seq order,
// stopping at the first error. fn runs outside any transaction and may call
// other methods (for example DeleteMessage for an expired message).
func (s *Store) Messages(clientID string, fn func(seq uint64, m *Message) error) error {
	if clientID == "" {
		return fmt.Errorf("messages: %w", ErrEmptyKey)
	}
	name := nameKey(clientID)
	err := scan(s, func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketMessages).Bucket(name) },
		func(_ *bolt.Tx, k, v []byte) (seqMessage, error) {
			if len(k) != 8 {
				return seqMessage{}, &CorruptError{Record: "message", Key: fmt.Sprintf("key %x", k),
					Err: fmt.Errorf("%w: key length %d", ErrCorrupt, len(k))}
			}
			seq := binary.BigEndian.Uint64(k)
			m, err := decodeMessage(v)
			if err != nil {
				return seqMessage{}, &CorruptError{Record: "message", Key: fmt.Sprint(seq), Err: err}
			}
			return seqMessage{seq, m}, nil
		},
		func(sm seqMessage) error { return fn(sm.seq, sm.m) })
	if err != nil {
		return fmt.Errorf("messages of %q: %w", clientID, err)
	}
	return nil
}

// LastSeq returns the highest stored seq of clientID, or 0 when it has no
// messages, so a restarted broker can continue its sequence above it.
func (s *Store) LastSeq(clientID string) (uint64, error) {
	if clientID == "" {
		return 0, fmt.Errorf("last seq: %w", ErrEmptyKey)
	}
	name := nameKey(clientID)
	var seq uint64
	err := s.view(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketMessages).Bucket(name)
		if q == nil {
			return nil
		}
		k, _ := q.Cursor().Last()
		if k == nil {
			return nil
		}
		if len(k) != 8 {
			return &CorruptError{Record: "message", Key: fmt.Sprintf("key %x", k),
				Err: fmt.Errorf("%w: key length %d", ErrCorrupt, len(k))}
		}
		seq = binary.BigEndian.Uint64(k)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("last seq of %q: %w", clientID, err)
	}
	return seq, nil
}
