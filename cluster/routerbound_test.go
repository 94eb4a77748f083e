package cluster

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestDeadlineDone: done is called exactly once, with the router's
// outcome when it comes first, with ErrCopyTimeout (an ErrUnavailable:
// v5 0x80) when the timeout does.
func TestDeadlineDone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		early   bool          // the router completes before arm (no copies)
		after   time.Duration // the router completes this long after arm; 0: never
		want    error
		timeout time.Duration
	}{
		{name: "no copies", early: true, timeout: time.Hour},
		{name: "acked in time", after: time.Millisecond, timeout: time.Hour},
		{name: "never acked", timeout: 20 * time.Millisecond, want: ErrCopyTimeout},
		{name: "acked too late", after: 200 * time.Millisecond, timeout: 20 * time.Millisecond, want: ErrCopyTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			got := make(chan error, 2)
			d := &deadlineDone{done: func(err error) { calls.Add(1); got <- err }}
			if tc.early {
				d.complete(nil)
			}
			d.arm(tc.timeout)
			if tc.after > 0 {
				time.AfterFunc(tc.after, func() { d.complete(nil) })
			}
			select {
			case err := <-got:
				if !errors.Is(err, tc.want) {
					t.Fatalf("done(%v); want %v", err, tc.want)
				}
				if tc.want != nil && !errors.Is(err, mqttfront.ErrUnavailable) {
					t.Errorf("done(%v) is no ErrUnavailable: the front end would not answer 0x80", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("done not called")
			}
			time.Sleep(tc.after + 50*time.Millisecond) // a late completion must not call done again
			if n := calls.Load(); n != 1 {
				t.Errorf("done called %d times; want 1", n)
			}
		})
	}
}
