package testkit

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	n := 0
	if !Poll(time.Second, func() bool { n++; return n == 5 }) {
		t.Fatal("Poll = false; want true once cond holds")
	}
	start := time.Now()
	if Poll(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("Poll = true for a cond that never holds")
	}
	if d := time.Since(start); d < 30*time.Millisecond || d > 30*time.Millisecond+10*maxPoll {
		t.Errorf("Poll of a false cond took %v; want about 30ms", d)
	}
}

// service is a Service whose readiness and Run result the test controls.
type service struct {
	ready chan struct{}
	err   error // Run's result after ctx ends
	early error // returned at once when not nil
}

func (s *service) Run(ctx context.Context) error {
	if s.early != nil {
		return s.early
	}
	close(s.ready)
	<-ctx.Done()
	return s.err
}

func TestStartStop(t *testing.T) {
	s := &service{ready: make(chan struct{})}
	stop := Start(t, s, s.ready)
	select {
	case <-s.ready:
	default:
		t.Fatal("Start returned before ready")
	}
	stop()
	stop() // idempotent
}

func TestSink(t *testing.T) {
	var got []error
	done := func(err error) { got = append(got, err) }
	fail := errors.New("no")
	s := &Sink[string]{Fail: fail}
	s.Submit("a", done)
	s.Submit("b", nil)
	if s.Len() != 2 || len(got) != 1 || got[0] != fail {
		t.Fatalf("Len %d, completions %v; want 2 messages, one completion with %v", s.Len(), got, fail)
	}
	h := &Sink[string]{Hold: true}
	got = nil
	h.Submit("a", done)
	h.Submit("b", done)
	if h.Pending() != 2 || len(got) != 0 {
		t.Fatalf("held: Pending %d, completions %v; want 2 held, none given", h.Pending(), got)
	}
	h.Confirm(1, nil)
	h.Release(ErrTestOver)
	h.Confirm(1, fail) // given already: no second call
	if len(got) != 2 || got[0] != nil || got[1] != ErrTestOver {
		t.Errorf("completions %v; want [nil %v]", got, ErrTestOver)
	}
	if m := h.Messages(); len(m) != 2 || m[0] != "a" || m[1] != "b" {
		t.Errorf("Messages = %v; want [a b]", m)
	}
}

func TestSet(t *testing.T) {
	type inner struct {
		Size  int           `koanf:"max_size"`
		Every time.Duration `koanf:"every"`
	}
	type cfg struct {
		Name  string `koanf:"name"`
		Inner inner  `koanf:"inner"`
	}
	var c cfg
	Set(t, &c, "name", "x")
	Set(t, &c, "inner.max_size", 7)
	Set(t, &c, "every", time.Second) // plain key: found in a nested section
	if c.Name != "x" || c.Inner.Size != 7 || c.Inner.Every != time.Second {
		t.Errorf("cfg = %+v; want name x, max_size 7, every 1s", c)
	}
}

func TestRecorder(t *testing.T) {
	var r Recorder[int]
	done := make(chan struct{})
	go func() { defer close(done); r.Add(1) }()
	<-done
	r.Add(2)
	if all := r.All(); r.Len() != 2 || len(all) != 2 || all[0] != 1 || all[1] != 2 {
		t.Errorf("All = %v, Len %d; want [1 2], 2", all, r.Len())
	}
}
