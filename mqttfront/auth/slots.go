package auth

import (
	"container/list"
	"context"
	"sync"
)

// slots bounds concurrent bcrypt runs. Unlike a channel semaphore it does
// not serve waiters strictly in arrival order: a freed slot goes to the
// oldest waiter that is not suspect (its address failed lately), and only
// when every waiter is suspect to the oldest one. A flood that queued
// hundreds of attempts before its first failure then no longer stands
// between a clean address's login and the CPU.
type slots struct {
	mu      sync.Mutex
	size    int
	used    int
	waiters list.List // of *slotWaiter, oldest first
}

type slotWaiter struct {
	granted chan struct{} // closed when the slot is handed over
	suspect func() bool   // nil = never suspect
	el      *list.Element // nil once granted
}

func newSlots(n int) *slots { return &slots{size: n} }

// acquire waits for a slot; it returns ctx's error if ctx ends first (and
// then holds no slot).
func (s *slots) acquire(ctx context.Context, suspect func() bool) error {
	s.mu.Lock()
	if s.used < s.size && s.waiters.Len() == 0 {
		s.used++
		s.mu.Unlock()
		return nil
	}
	w := &slotWaiter{granted: make(chan struct{}), suspect: suspect}
	w.el = s.waiters.PushBack(w)
	s.mu.Unlock()
	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	if w.el == nil {
		// Granted while ctx ended: pass the slot on.
		s.mu.Unlock()
		s.release()
		return ctx.Err()
	}
	s.waiters.Remove(w.el)
	s.mu.Unlock()
	return ctx.Err()
}

// release frees a slot, handing it to the waiter picked as described on
// slots. suspect is called with s.mu held; it must not call back.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pick *list.Element
	for e := s.waiters.Front(); e != nil; e = e.Next() {
		if w := e.Value.(*slotWaiter); w.suspect == nil || !w.suspect() {
			pick = e
			break
		}
	}
	if pick == nil {
		pick = s.waiters.Front()
	}
	if pick == nil {
		s.used--
		return
	}
	w := s.waiters.Remove(pick).(*slotWaiter)
	w.el = nil
	close(w.granted)
}

// load returns the slots in use and the callers waiting.
func (s *slots) load() HashLoad {
	s.mu.Lock()
	defer s.mu.Unlock()
	return HashLoad{Running: s.used, Waiting: s.waiters.Len()}
}
