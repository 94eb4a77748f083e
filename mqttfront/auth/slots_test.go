package auth

import (
	"context"
	"errors"
	"testing"
	"time"
)

// queue starts a waiter for s and waits until it is queued; the returned
// channel yields its acquire result.
func queue(t *testing.T, s *slots, ctx context.Context, suspect func() bool) <-chan error {
	t.Helper()
	before := s.load().Waiting
	got := make(chan error, 1)
	go func() { got <- s.acquire(ctx, suspect) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.load().Waiting == before {
		if time.Now().After(deadline) {
			t.Fatal("waiter not queued")
		}
		time.Sleep(time.Millisecond)
	}
	return got
}

func granted(c <-chan error) bool {
	select {
	case err := <-c:
		return err == nil
	default:
		return false
	}
}

func TestSlotsPreferNotSuspect(t *testing.T) {
	ctx := context.Background()
	s := newSlots(1)
	if err := s.acquire(ctx, nil); err != nil {
		t.Fatal(err)
	}
	yes := func() bool { return true }
	flood1 := queue(t, s, ctx, yes)
	flood2 := queue(t, s, ctx, yes)
	clean := queue(t, s, ctx, nil)
	s.release()
	if err := <-clean; err != nil {
		t.Fatalf("clean waiter: %v", err)
	}
	if granted(flood1) || granted(flood2) {
		t.Fatal("a suspect waiter got the slot before the clean one")
	}
	// Only suspects left: the oldest goes first.
	s.release()
	if err := <-flood1; err != nil {
		t.Fatal(err)
	}
	if granted(flood2) {
		t.Fatal("the younger suspect got a slot too")
	}
	s.release()
	<-flood2
	s.release()
	if l := s.load(); l.Running != 0 || l.Waiting != 0 {
		t.Fatalf("load %+v after all released; want zero", l)
	}
}

func TestSlotsCancel(t *testing.T) {
	s := newSlots(1)
	if err := s.acquire(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := queue(t, s, ctx, nil)
	cancel()
	if err := <-w; !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire = %v; want context.Canceled", err)
	}
	if l := s.load(); l.Running != 1 || l.Waiting != 0 {
		t.Fatalf("load %+v; want the cancelled waiter gone", l)
	}
	s.release()
	if err := s.acquire(context.Background(), nil); err != nil {
		t.Fatalf("slot lost after a cancelled wait: %v", err)
	}
}
