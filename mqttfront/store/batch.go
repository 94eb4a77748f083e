package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Batch collects writes that Apply commits atomically, in order, in one
// transaction: all of them or none. The zero value is an empty batch. A
// Batch encodes records when they are added, so later changes to the
// arguments do not affect it. It is not safe for concurrent use.
type Batch struct {
	muts []mutation
	err  error // first invalid argument
}

type mutationKind byte

const (
	putSession      mutationKind = iota // record and the whole subscription set
	putSessionState                     // record only
	putSubscriptions
	deleteSubscriptions
	deleteSession
	putMessage
	deleteMessage
	putRetained
	deleteRetained
	putMark
)

// mutation is one encoded write.
type mutation struct {
	kind  mutationKind
	name  []byte // sessions or retained key; messages/<name> bucket
	seq   []byte // message key
	val   []byte
	subs  encSubs // putSession, putSubscriptions; deleteSubscriptions uses keys only
	label string  // for errors: client id, client id/seq or topic
}

// delta is the change to the Stats counters made by a transaction.
type delta struct{ sessions, messages, retained int64 }

func (d *delta) addTo(s *Store) {
	s.sessions.Add(d.sessions)
	s.messages.Add(d.messages)
	s.retained.Add(d.retained)
}

// apply performs m in tx, recording counter changes in d.
func (m *mutation) apply(tx *bolt.Tx, d *delta) error {
	var err error
	switch m.kind {
	case putSession, putSessionState:
		b := tx.Bucket(bucketSessions)
		if b.Get(m.name) == nil {
			d.sessions++
		}
		if err = b.Put(m.name, m.val); err == nil && m.kind == putSession {
			err = replaceSubs(tx.Bucket(bucketSubs), m.name, m.subs)
		}
	case putSubscriptions:
		err = putSubs(tx.Bucket(bucketSubs), m.name, m.subs)
	case deleteSubscriptions:
		err = deleteSubs(tx.Bucket(bucketSubs), m.name, m.subs.keys)
	case deleteSession:
		b := tx.Bucket(bucketSessions)
		if b.Get(m.name) != nil {
			d.sessions--
			if err = b.Delete(m.name); err != nil {
				break
			}
		}
		if sb := tx.Bucket(bucketSubs); sb.Bucket(m.name) != nil {
			if err = sb.DeleteBucket(m.name); err != nil {
				break
			}
		}
		mb := tx.Bucket(bucketMessages)
		if q := mb.Bucket(m.name); q != nil {
			d.messages -= int64(q.Stats().KeyN)
			err = mb.DeleteBucket(m.name)
		}
	case putMessage:
		var q *bolt.Bucket
		if q, err = tx.Bucket(bucketMessages).CreateBucketIfNotExists(m.name); err != nil {
			break
		}
		if q.Get(m.seq) == nil {
			d.messages++
		}
		err = q.Put(m.seq, m.val)
	case deleteMessage:
		q := tx.Bucket(bucketMessages).Bucket(m.name)
		if q != nil && q.Get(m.seq) != nil {
			d.messages--
			err = q.Delete(m.seq)
		}
	case putRetained:
		b := tx.Bucket(bucketRetained)
		if b.Get(m.name) == nil {
			d.retained++
		}
		err = b.Put(m.name, m.val)
	case deleteRetained:
		b := tx.Bucket(bucketRetained)
		if b.Get(m.name) != nil {
			d.retained--
			err = b.Delete(m.name)
		}
	case putMark:
		err = tx.Bucket(bucketMarks).Put(m.name, m.val)
	}
	if err != nil && m.label != "" { // single-op callers add their own context
		return fmt.Errorf("%s %s: %w", m.kind, m.label, err)
	}
	return err
}

func (k mutationKind) String() string {
	switch k {
	case putSession:
		return "put session"
	case putSessionState:
		return "put session state"
	case putSubscriptions:
		return "put subscriptions"
	case deleteSubscriptions:
		return "delete subscriptions"
	case deleteSession:
		return "delete session"
	case putMessage:
		return "put message"
	case deleteMessage:
		return "delete message"
	case putRetained:
		return "put retained"
	case deleteRetained:
		return "delete retained"
	case putMark:
		return "put mark"
	}
	return "unknown mutation"
}

// commit applies muts in one group-committed transaction and updates the
// counters once it is durable.
func (s *Store) commit(muts ...mutation) error {
	var d delta
	err := s.batch(func(tx *bolt.Tx) error {
		d = delta{} // the function may run more than once
		for i := range muts {
			if err := muts[i].apply(tx, &d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.addTo(s)
	return nil
}

func (b *Batch) add(m mutation, emptyKey bool, invalid error) {
	if b.err != nil {
		return
	}
	switch {
	case emptyKey:
		b.err = fmt.Errorf("%s: %w", m.kind, ErrEmptyKey)
	case invalid != nil:
		b.err = fmt.Errorf("%s %s: %w", m.kind, m.label, invalid)
	default:
		b.muts = append(b.muts, m)
	}
}

// PutSession adds Store.PutSession(sess) to the batch.
func (b *Batch) PutSession(sess *Session) {
	b.add(sessionMutation(putSession, sess, appendSessionRecord(nil, sess)))
}

// PutSessionState adds Store.PutSessionState(sess) to the batch.
func (b *Batch) PutSessionState(sess *Session) {
	b.add(sessionMutation(putSessionState, sess, appendSessionRecord(nil, sess)))
}

// PutSubscriptions adds Store.PutSubscriptions(clientID, subs...) to the
// batch.
func (b *Batch) PutSubscriptions(clientID string, subs ...Subscription) {
	b.add(putSubsMutation(clientID, subs))
}

// DeleteSubscriptions adds Store.DeleteSubscriptions(clientID, filters...)
// to the batch.
func (b *Batch) DeleteSubscriptions(clientID string, filters ...string) {
	b.add(deleteSubsMutation(clientID, filters))
}

// DeleteSession adds Store.DeleteSession(clientID) to the batch.
func (b *Batch) DeleteSession(clientID string) {
	b.add(mutation{kind: deleteSession, name: nameKey(clientID), label: quote(clientID)}, clientID == "", nil)
}

// PutMessage adds Store.PutMessage(clientID, seq, m) to the batch.
func (b *Batch) PutMessage(clientID string, seq uint64, m *Message) {
	b.add(mutation{kind: putMessage, name: nameKey(clientID), seq: seqKey(seq), val: appendMessage(nil, m), label: seqLabel(clientID, seq)}, clientID == "", validMessage(m))
}

// DeleteMessage adds Store.DeleteMessage(clientID, seq) to the batch.
func (b *Batch) DeleteMessage(clientID string, seq uint64) {
	b.add(mutation{kind: deleteMessage, name: nameKey(clientID), seq: seqKey(seq), label: seqLabel(clientID, seq)}, clientID == "", nil)
}

// PutRetained adds Store.PutRetained(m) to the batch.
func (b *Batch) PutRetained(m *Message) {
	b.add(mutation{kind: putRetained, name: nameKey(m.Topic), val: appendMessage(nil, m), label: quote(m.Topic)}, m.Topic == "", validMessage(m))
}

// DeleteRetained adds Store.DeleteRetained(topic) to the batch.
func (b *Batch) DeleteRetained(topic string) {
	b.add(mutation{kind: deleteRetained, name: nameKey(topic), label: quote(topic)}, topic == "", nil)
}

// Len reports the number of writes in the batch.
func (b *Batch) Len() int { return len(b.muts) }

// Reset empties the batch for reuse.
func (b *Batch) Reset() {
	clear(b.muts)
	b.muts, b.err = b.muts[:0], nil
}

// Apply commits every write of b atomically, in the order added, sharing a
// group commit with concurrent writers. A batch with an invalid argument
// (an empty client id or topic, ErrInvalid) is refused whole. An empty batch is a no-op.
func (s *Store) Apply(b *Batch) error {
	if b.err != nil {
		return fmt.Errorf("apply: %w", b.err)
	}
	if len(b.muts) == 0 {
		return nil
	}
	if err := s.commit(b.muts...); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func seqLabel(clientID string, seq uint64) string { return fmt.Sprintf("%s/%d", quote(clientID), seq) }
