package spool

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor is the kit's WaitFor (one poll policy for the module).
var waitFor = testkit.WaitFor

// testConfig is a small spool in a fresh directory: 4 KiB segments, 64 KiB quota.
func testConfig(t testing.TB) Config {
	c := DefaultConfig()
	c.Enabled = true
	c.Dir = t.TempDir()
	c.SegmentBytes = 4096
	c.QuotaBytes = 16 * 4096
	return c
}

// startSpool opens cfg.Dir and runs the spool until the returned stop is
// called (also at cleanup). stop returns Run's error; it is idempotent.
func startSpool(t testing.TB, cfg Config) (*Spool, func() error) {
	t.Helper()
	return startSpoolWith(t, cfg, nil)
}

// startSpoolWith is startSpool with setup run between Open and Run.
func startSpoolWith(t testing.TB, cfg Config, setup func(*Spool)) (*Spool, func() error) {
	t.Helper()
	s, err := Open(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if setup != nil {
		setup(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-errc
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return s, stop
}

// appendSync appends data and waits for its done callback.
func appendSync(t testing.TB, s *Spool, data []byte) uint64 {
	t.Helper()
	type res struct {
		seq uint64
		err error
	}
	ch := make(chan res, 1)
	if err := s.Append(data, func(seq uint64, err error) { ch <- res{seq, err} }); err != nil {
		t.Fatalf("Append: %v", err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Append done: %v", r.err)
		}
		return r.seq
	case <-time.After(10 * time.Second):
		t.Fatal("Append done did not fire within 10s")
	}
	return 0
}

// nextT calls Next with a timeout.
func nextT(t testing.TB, s *Spool, after uint64) (uint64, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seq, data, err := s.Next(ctx, after)
	if err != nil {
		t.Fatalf("Next(%d): %v", after, err)
	}
	return seq, data
}
