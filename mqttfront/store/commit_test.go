package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A failing write in a group commit fails alone; the others commit.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s, _ := openTest(t)
	const writers = 64
	errBad := errors.New("bad write")
	var wg sync.WaitGroup
	results := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			key := []byte(fmt.Sprint(i))
			results[i] = s.batch(func(tx *bolt.Tx) error {
				if err := tx.Bucket(bucketRetained).Put(key, []byte("x")); err != nil {
					return err
				}
				if i%5 == 0 {
					return errBad // after a Put: the rollback must undo it
				}
				return nil
			})
		})
	}
	wg.Wait()
	_ = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRetained)
		for i, err := range results {
			stored := b.Get([]byte(fmt.Sprint(i))) != nil
			if i%5 == 0 {
				if !errors.Is(err, errBad) || stored {
					t.Errorf("write %d: err %v, stored %v; want errBad and not stored", i, err, stored)
				}
			} else if err != nil || !stored {
				t.Errorf("write %d: err %v, stored %v; want nil and stored", i, err, stored)
			}
		}
		return nil
	})
}

// Concurrent writers share transactions: far fewer commits than writes.
func TestGroupCommitBatches(t *testing.T) {
	s, _ := openTestOptions(t, Options{}) // fsync on: commits take long enough to batch
	const writers, each = 32, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.PutRetained(&Message{Topic: fmt.Sprintf("%d/%d", w, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.Retained != writers*each || st.Writes != writers*each {
		t.Fatalf("Stats() = %+v; want %d retained and writes", st, writers*each)
	}
	// Scheduling decides the exact figure; with 32 writers queued behind
	// each fsync, one commit per write would mean no grouping at all.
	if st.Commits >= st.Writes {
		t.Errorf("Stats() = %d commits for %d writes; want fewer commits than writes", st.Commits, st.Writes)
	}
	t.Logf("%d writes in %d commits", st.Writes, st.Commits)
}
