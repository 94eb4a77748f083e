package testkit

import (
	"errors"
	"sync"
)

// Sink records every message submitted to it, in order. It is the fake
// mqttfront.Sink of the tests: *Sink[*mqttfront.Message] implements it
// (Submit). By default it confirms each message at once with Fail (nil:
// success). With Hold it keeps each completion for the test to give with
// Confirm; Release gives the ones still held (a test's end does, so that
// nothing waits on a sink that is gone).
type Sink[M any] struct {
	Hold bool  // keep completions for Confirm
	Fail error // what an immediate completion gives

	mu      sync.Mutex
	msgs    []M
	pending []*held
}

// held is one kept completion; it runs once.
type held struct {
	once sync.Once
	done func(error)
}

func (h *held) call(err error) { h.once.Do(func() { h.done(err) }) }

// ErrTestOver is what Release gives held completions at a test's end.
var ErrTestOver = errors.New("testkit: test over")

// Submit records m and completes it (QoS 0 messages come with a nil done).
func (s *Sink[M]) Submit(m M, done func(error)) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	hold, fail := s.Hold, s.Fail
	if hold && done != nil {
		s.pending = append(s.pending, &held{done: done})
	}
	s.mu.Unlock()
	if !hold && done != nil {
		done(fail)
	}
}

// Messages returns a copy of the messages recorded so far.
func (s *Sink[M]) Messages() []M {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]M(nil), s.msgs...)
}

// Len is the number of messages recorded so far.
func (s *Sink[M]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Pending is the number of completions held (given or not).
func (s *Sink[M]) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Confirm gives err to the i-th held completion (in submission order).
func (s *Sink[M]) Confirm(i int, err error) {
	s.mu.Lock()
	h := s.pending[i]
	s.mu.Unlock()
	h.call(err)
}

// Release gives err to every held completion not given yet.
func (s *Sink[M]) Release(err error) {
	s.mu.Lock()
	hs := append([]*held(nil), s.pending...)
	s.mu.Unlock()
	for _, h := range hs {
		h.call(err)
	}
}
