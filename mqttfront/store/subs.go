package store

import (
	"cmp"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// Subscriptions are stored one key each, under subscriptions/<client id>
// keyed by filter (nameKey), so a SUBSCRIBE or UNSUBSCRIBE writes only what
// it changes: a leaf page and its parents, whatever the session holds.

// encSubs are encoded subscriptions: filter keys and record bodies
// (appendSubscriptionBody); the seq is added when they are stored.
type encSubs struct {
	keys   [][]byte
	bodies [][]byte
}

func encodeSubs(subs []Subscription) encSubs {
	e := encSubs{keys: make([][]byte, len(subs)), bodies: make([][]byte, len(subs))}
	for i := range subs {
		e.keys[i] = nameKey(subs[i].Filter)
		e.bodies[i] = appendSubscriptionBody(nil, &subs[i])
	}
	return e
}

// replaceSubs makes e the whole subscription set of the session name, in
// the given order.
func replaceSubs(root *bolt.Bucket, name []byte, e encSubs) error {
	if root.Bucket(name) != nil {
		if err := root.DeleteBucket(name); err != nil {
			return err
		}
	}
	if len(e.keys) == 0 {
		return nil
	}
	b, err := root.CreateBucket(name)
	if err != nil {
		return err
	}
	for i := range e.keys {
		if err := b.Put(e.keys[i], appendSubscription(nil, uint64(i+1), e.bodies[i])); err != nil {
			return err
		}
	}
	return b.SetSequence(uint64(len(e.keys)))
}

// putSubs adds or replaces subscriptions of the session name. A replaced
// one keeps its place (seq) in the order.
func putSubs(root *bolt.Bucket, name []byte, e encSubs) error {
	b, err := root.CreateBucketIfNotExists(name)
	if err != nil {
		return err
	}
	for i := range e.keys {
		seq, ok := subscriptionSeq(b.Get(e.keys[i]))
		if !ok {
			if seq, err = b.NextSequence(); err != nil {
				return err
			}
		}
		if err := b.Put(e.keys[i], appendSubscription(nil, seq, e.bodies[i])); err != nil {
			return err
		}
	}
	return nil
}

// deleteSubs removes subscriptions of the session name by filter key, and
// its bucket once empty. Missing ones are not an error.
func deleteSubs(root *bolt.Bucket, name []byte, keys [][]byte) error {
	b := root.Bucket(name)
	if b == nil {
		return nil
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	if k, _ := b.Cursor().First(); k == nil {
		return root.DeleteBucket(name)
	}
	return nil
}

// readSubs returns the stored subscriptions of the session name in the order
// they were first stored. A record that fails to decode is a *CorruptError
// or, with skipCorrupt, logged, counted and left out.
func (s *Store) readSubs(tx *bolt.Tx, name []byte) ([]Subscription, error) {
	b := tx.Bucket(bucketSubs).Bucket(name)
	if b == nil {
		return nil, nil
	}
	type seqSub struct {
		seq uint64
		sub Subscription
	}
	all := make([]seqSub, 0, 8)
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, sub, err := decodeSubscription(v)
		if err != nil {
			ce := &CorruptError{Record: "subscription", Key: fmt.Sprintf("%q/%q", name, k), Err: err}
			if !s.skipCorrupt {
				return nil, ce
			}
			s.corrupt.Add(1)
			s.log.Error("store: skipping corrupt record", zap.String("record", ce.Record), zap.String("key", ce.Key), zap.Error(err))
			continue
		}
		all = append(all, seqSub{seq, sub})
	}
	if len(all) == 0 {
		return nil, nil
	}
	slices.SortFunc(all, func(a, b seqSub) int { return cmp.Compare(a.seq, b.seq) })
	subs := make([]Subscription, len(all))
	for i := range all {
		subs[i] = all[i].sub
	}
	return subs, nil
}

func sessionMutation(kind mutationKind, sess *Session, val []byte) (mutation, bool, error) {
	m := mutation{kind: kind, name: nameKey(sess.ClientID), val: val, label: quote(sess.ClientID)}
	if kind == putSession {
		m.subs = encodeSubs(sess.Subscriptions)
	}
	var invalid error
	if kind == putSession {
		invalid = validSession(sess)
	} else {
		invalid = validSession(&Session{Will: sess.Will}) // Subscriptions are ignored
	}
	return m, sess.ClientID == "", invalid
}

func putSubsMutation(clientID string, subs []Subscription) (mutation, bool, error) {
	m := mutation{kind: putSubscriptions, name: nameKey(clientID), subs: encodeSubs(subs), label: quote(clientID)}
	var invalid error
	for i := range subs {
		if invalid = validSubscription(&subs[i]); invalid != nil {
			break
		}
	}
	return m, clientID == "", invalid
}

func deleteSubsMutation(clientID string, filters []string) (mutation, bool, error) {
	m := mutation{kind: deleteSubscriptions, name: nameKey(clientID), label: quote(clientID)}
	m.subs.keys = make([][]byte, len(filters))
	var invalid error
	for i, f := range filters {
		if f == "" {
			invalid = fmt.Errorf("subscription filter: %w", ErrEmptyKey)
		}
		m.subs.keys[i] = nameKey(f)
	}
	return m, clientID == "", invalid
}

// PutSessionState inserts or replaces the session record of sess.ClientID
// and leaves its stored subscriptions as they are: sess.Subscriptions is
// ignored. It is what a broker writes at connect, disconnect or a will, as
// its subscriptions are written by PutSubscriptions and
// DeleteSubscriptions. A session written first this way starts with the
// subscriptions already stored under its client id, if any; PutSession
// replaces them.
func (s *Store) PutSessionState(sess *Session) error {
	return s.single("put session state", sess.ClientID, func() (mutation, bool, error) {
		return sessionMutation(putSessionState, sess, appendSessionRecord(nil, sess))
	})
}

// PutSubscriptions adds subscriptions of clientID or replaces those with
// the same filter, writing only those keys. Like PutMessage it does not
// require the session record to exist.
func (s *Store) PutSubscriptions(clientID string, subs ...Subscription) error {
	if len(subs) == 0 {
		return nil
	}
	return s.single("put subscriptions", clientID, func() (mutation, bool, error) { return putSubsMutation(clientID, subs) })
}

// DeleteSubscriptions removes subscriptions of clientID by filter. A
// filter that is not stored is not an error.
func (s *Store) DeleteSubscriptions(clientID string, filters ...string) error {
	if len(filters) == 0 {
		return nil
	}
	return s.single("delete subscriptions", clientID, func() (mutation, bool, error) { return deleteSubsMutation(clientID, filters) })
}

// single validates and commits one mutation, wrapping errors as
// "<what> <client id>: ...".
func (s *Store) single(what, clientID string, mk func() (mutation, bool, error)) error {
	m, empty, invalid := mk()
	switch {
	case empty:
		return fmt.Errorf("%s: %w", what, ErrEmptyKey)
	case invalid != nil:
		return fmt.Errorf("%s %q: %w", what, clientID, invalid)
	}
	m.label = ""
	if err := s.commit(m); err != nil {
		return fmt.Errorf("%s %q: %w", what, clientID, err)
	}
	return nil
}
