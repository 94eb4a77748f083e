package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// migrate brings a file of an older format version up to FormatVersion,
// inside Open's transaction: a crash or an error leaves the file as it was.
func (s *Store) migrate(tx *bolt.Tx, from uint64) error {
	if from == 1 {
		if err := migrate1to2(tx, s.log); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keyVersion, binary.AppendUvarint(nil, FormatVersion))
}

// migrate1to2 moves each session's subscriptions out of its record into
// subscriptions/<client id>, one key per filter, and rewrites the record in
// session format 2. A record that does not decode is left as it is: the
// session walk reports (or, with SkipCorrupt, skips) it as before, and
// decodeSession still reads format 1.
func migrate1to2(tx *bolt.Tx, log *zap.Logger) error {
	sessions, root := tx.Bucket(bucketSessions), tx.Bucket(bucketSubs)
	type rec struct {
		key  []byte
		sess *Session
	}
	var recs []rec
	var corrupt int
	err := sessions.ForEach(func(k, v []byte) error {
		if v == nil || len(v) == 0 || v[0] != sessionFormatV1 {
			return nil
		}
		sess, err := decodeSession(v)
		if err != nil {
			corrupt++
			log.Error("store: migration leaves a corrupt session record as it is", zap.String("key", fmt.Sprintf("%q", k)), zap.Error(err))
			return nil
		}
		recs = append(recs, rec{bytes.Clone(k), sess})
		return nil
	})
	if err != nil {
		return err
	}
	var nsubs int
	for _, r := range recs {
		if err := sessions.Put(r.key, appendSessionRecord(nil, r.sess)); err != nil {
			return err
		}
		subs := r.sess.Subscriptions[:0:0]
		for _, sub := range r.sess.Subscriptions {
			if sub.Filter != "" { // format 1 did not refuse one; MQTT does [MQTT-4.7.3-1]
				subs = append(subs, sub)
			}
		}
		if err := replaceSubs(root, r.key, encodeSubs(subs)); err != nil {
			return err
		}
		nsubs += len(subs)
	}
	log.Info("store: migrated from format 1 to 2 (one key per subscription)",
		zap.Int("sessions", len(recs)), zap.Int("subscriptions", nsubs), zap.Int("corrupt_left", corrupt))
	return nil
}
