package testkit

import (
	"testing"
	"time"
)

// The poll policy of WaitFor and Poll: the condition is checked at once,
// then after pauses that double from firstPoll up to maxPoll, so that a
// condition about to hold is seen within a millisecond or two and a long
// wait (a Kafka round trip, a drain) costs a check every 25 ms.
const (
	firstPoll = time.Millisecond
	maxPoll   = 25 * time.Millisecond
)

// WaitFor polls cond until it holds, and fails t (Fatalf, naming what)
// once timeout has passed without it. Call it from the test's goroutine.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Poll is WaitFor that reports instead of failing: whether cond held
// within timeout.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := firstPoll
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPoll)
	}
	return true
}
