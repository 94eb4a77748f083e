package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutSession inserts or replaces the session keyed by sess.ClientID.
func (s *Store) PutSession(sess *Session) error {
	if sess.ClientID == "" {
		return fmt.Errorf("put session: %w", ErrEmptyKey)
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	*buf = appendSession((*buf)[:0], sess)
	val := *buf
	key := nameKey(sess.ClientID)
	var added bool
	err := s.batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		added = b.Get(key) == nil
		return b.Put(key, val)
	})
	if err != nil {
		return fmt.Errorf("put session %q: %w", sess.ClientID, err)
	}
	if added {
		s.sessions.Add(1)
	}
	return nil
}

// DeleteSession removes the session and all its messages. Deleting a missing
// session is not an error.
func (s *Store) DeleteSession(clientID string) error {
	if clientID == "" {
		return fmt.Errorf("delete session: %w", ErrEmptyKey)
	}
	key := nameKey(clientID)
	var removed bool
	var msgs int64
	err := s.batch(func(tx *bolt.Tx) error {
		removed, msgs = false, 0
		b := tx.Bucket(bucketSessions)
		if b.Get(key) != nil {
			removed = true
			if err := b.Delete(key); err != nil {
				return err
			}
		}
		mb := tx.Bucket(bucketMessages)
		if q := mb.Bucket(key); q != nil {
			msgs = int64(q.Stats().KeyN)
			if err := mb.DeleteBucket(key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete session %q: %w", clientID, err)
	}
	if removed {
		s.sessions.Add(-1)
	}
	s.messages.Add(-msgs)
	return nil
}

// Sessions calls fn for every stored session, in key order, stopping at the
// first error. fn runs outside any transaction and may call other methods.
// A record that fails to decode stops the walk with an error naming its key.
func (s *Store) Sessions(fn func(*Session) error) error {
	err := scan(s, func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketSessions) },
		func(k, v []byte) (*Session, error) {
			sess, err := decodeSession(v)
			if err != nil {
				return nil, fmt.Errorf("session %q: %w", k, err)
			}
			return sess, nil
		}, fn)
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	return nil
}
