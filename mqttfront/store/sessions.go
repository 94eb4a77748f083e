package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PutSession inserts or replaces the session keyed by sess.ClientID,
// subscriptions included: its stored subscriptions become
// sess.Subscriptions, in that order. That writes every subscription; a
// broker changes them one by one with PutSubscriptions and
// DeleteSubscriptions and writes the rest with PutSessionState.
func (s *Store) PutSession(sess *Session) error {
	buf := s.getBuf()
	defer s.putBuf(buf)
	return s.single("put session", sess.ClientID, func() (mutation, bool, error) {
		*buf = appendSessionRecord((*buf)[:0], sess)
		return sessionMutation(putSession, sess, *buf)
	})
}

// DeleteSession removes the session, its subscriptions and all its messages. Deleting a missing
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

// Sessions calls fn for every stored session with its subscriptions (in
// the order first stored), in key order, stopping at the
// first error. fn runs outside any transaction and may call other methods.
// A record that fails to decode stops the walk with an error naming its key.
func (s *Store) Sessions(fn func(*Session) error) error {
	err := scan(s, func(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketSessions) },
		func(tx *bolt.Tx, k, v []byte) (*Session, error) {
			sess, err := decodeSession(v)
			if err != nil {
				return nil, &CorruptError{Record: "session", Key: fmt.Sprintf("%q", k), Err: err}
			}
			subs, err := s.readSubs(tx, k)
			if err != nil {
				return nil, err
			}
			sess.Subscriptions = append(sess.Subscriptions, subs...)
			return sess, nil
		}, fn)
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	return nil
}
