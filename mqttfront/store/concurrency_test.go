package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// Walks run while writers add and remove sessions: no error, and no key is
// seen twice within one walk.
func TestIterateWhileWriting(t *testing.T) {
	s, _ := openTest(t)
	for i := range 600 {
		mustOK(t, "PutSession", s.PutSession(&Session{ClientID: fmt.Sprintf("base-%04d", i)}))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("churn-%d-%d", w, i%50)
				if err := s.PutSession(&Session{ClientID: id}); err != nil {
					t.Error(err)
					return
				}
				if err := s.DeleteSession(id); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 5 {
		seen := map[string]bool{}
		base := 0
		mustOK(t, "Sessions", s.Sessions(func(sess *Session) error {
			if seen[sess.ClientID] {
				return fmt.Errorf("session %q seen twice in one walk", sess.ClientID)
			}
			seen[sess.ClientID] = true
			if len(sess.ClientID) > 5 && sess.ClientID[:5] == "base-" {
				base++
			}
			return nil
		}))
		if base != 600 {
			t.Errorf("walk saw %d of the 600 untouched sessions", base)
		}
	}
	stop.Store(true)
	wg.Wait()
}

// Close while writers run: every call either succeeds or returns ErrClosed,
// and Close waits for the calls in progress.
func TestCloseDuringWrites(t *testing.T) {
	s, _ := openTest(t)
	var wg sync.WaitGroup
	var ok, closed atomic.Int64
	started := make(chan struct{})
	var once sync.Once
	for w := range 16 {
		wg.Go(func() {
			for seq := uint64(0); ; seq++ {
				err := s.PutMessage(fmt.Sprint(w), seq, &Message{Topic: "t"})
				once.Do(func() { close(started) })
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrClosed):
					closed.Add(1)
					return
				default:
					t.Errorf("PutMessage during Close = %v; want nil or ErrClosed", err)
					return
				}
			}
		})
	}
	<-started
	mustOK(t, "Close", s.Close())
	wg.Wait()
	if closed.Load() != 16 {
		t.Errorf("%d writers saw ErrClosed; want 16", closed.Load())
	}
	t.Logf("%d writes before Close", ok.Load())
}
