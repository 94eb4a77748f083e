package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutRetained inserts or replaces the retained message for m.Topic.
// Clearing a retained message (an empty payload [MQTT-3.3.1-10]) is the
// caller's job: call DeleteRetained.
func (s *Store) PutRetained(m *Message) error {
	if m.Topic == "" {
		return fmt.Errorf("put retained: %w", ErrEmptyKey)
	}
	if err := validMessage(m); err != nil {
		return fmt.Errorf("put retained %q: %w", m.Topic, err)
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	*buf = appendMessage((*buf)[:0], m)
	if err := s.commit(mutation{kind: putRetained, name: nameKey(m.Topic), val: *buf}); err != nil {
		return fmt.Errorf("put retained %q: %w", m.Topic, err)
	}
	return nil
}

// DeleteRetained removes the retained message for topic. Deleting a missing
// one is not an error.
func (s *Store) DeleteRetained(topic string) error {
	if topic == "" {
		return fmt.Errorf("delete retained: %w", ErrEmptyKey)
	}
	if err := s.commit(mutation{kind: deleteRetained, name: nameKey(topic)}); err != nil {
		return fmt.Errorf("delete retained %q: %w", topic, err)
	}
	return nil
}

// Retained calls fn for every retained message, in key order, stopping at the
// first error. fn runs outside any transaction and may call other methods.
func (s *Store) Retained(fn func(*Message) error) error {
	err := scan(s, func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketRetained) },
		func(_ *bolt.Tx, k, v []byte) (*Message, error) {
			m, err := decodeMessage(v)
			if err != nil {
				return nil, &CorruptError{Record: "retained", Key: fmt.Sprintf("%q", k), Err: err}
			}
			return m, nil
		}, fn)
	if err != nil {
		return fmt.Errorf("retained: %w", err)
	}
	return nil
}
