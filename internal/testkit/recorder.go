package testkit

import "sync"

// Recorder collects values added from any goroutine (a client's message
// handler), for the test to read. The zero value is ready.
type Recorder[T any] struct {
	mu    sync.Mutex
	items []T
}

// Add appends v.
func (r *Recorder[T]) Add(v T) {
	r.mu.Lock()
	r.items = append(r.items, v)
	r.mu.Unlock()
}

// All returns a copy of what was added so far, in order.
func (r *Recorder[T]) All() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.items...)
}

// Len is how many values were added so far.
func (r *Recorder[T]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.items)
}
