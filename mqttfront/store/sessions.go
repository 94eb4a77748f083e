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
	if err := validSession(sess); err != nil {
		return fmt.Errorf("put session %q: %w", sess.ClientID, err)
	}
	buf := s.getBuf()
	defer s.putBuf(buf)
	*buf = appendSession((*buf)[:0], sess)
	err := s.commit(mutation{kind: putSession, name: nameKey(sess.ClientID), val: *buf})
	if err != nil {
		return fmt.Errorf("put session %q: %w", sess.ClientID, err)
	}
	return nil
}

// DeleteSession removes the session and all its messages. Deleting a missing
// session is not an error.
func (s *Store) DeleteSession(clientID string) error {
	if clientID == "" {
		return fmt.Errorf("delete session: %w", ErrEmptyKey)
	}
	if err := s.commit(mutation{kind: deleteSession, name: nameKey(clientID)}); err != nil {
		return fmt.Errorf("delete session %q: %w", clientID, err)
	}
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
				return nil, &CorruptError{Record: "session", Key: fmt.Sprintf("%q", k), Err: err}
			}
			return sess, nil
		}, fn)
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	return nil
}
