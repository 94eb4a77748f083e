package mqttfront

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// fakeClock is a settable clock for the limiter.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLogLimiter(t *testing.T) {
	type step struct {
		advance        time.Duration
		key            string
		wantOK         bool
		wantSuppressed int
	}
	tests := []struct {
		name  string
		lines int
		keys  int
		steps []step
	}{
		{name: "burst then suppressed, count reported in the next window", lines: 2, keys: 10, steps: []step{
			{key: "a", wantOK: true},
			{key: "a", wantOK: true},
			{key: "a"},
			{key: "a"},
			{advance: 59 * time.Second, key: "a"},
			{advance: time.Second, key: "a", wantOK: true, wantSuppressed: 3},
			{key: "a", wantOK: true},
			{key: "a"},
		}},
		{name: "keys are independent", lines: 1, keys: 10, steps: []step{
			{key: "a", wantOK: true},
			{key: "a"},
			{key: "b", wantOK: true},
			{key: "b"},
			{advance: time.Minute, key: "b", wantOK: true, wantSuppressed: 1},
			{key: "a", wantOK: true, wantSuppressed: 1},
		}},
		{name: "least recently used key evicted; it starts afresh", lines: 1, keys: 2, steps: []step{
			{key: "a", wantOK: true},
			{key: "a"},
			{key: "b", wantOK: true},
			{key: "c", wantOK: true}, // evicts a, its suppressed count is lost
			{key: "a", wantOK: true},
			{key: "c"}, // c was kept (b was evicted by a)
			{key: "b", wantOK: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Unix(1e9, 0)}
			l := newLogLimiter(tt.lines, time.Minute, tt.keys)
			l.now = clk.Now
			for i, s := range tt.steps {
				clk.Add(s.advance)
				ok, n := l.allow(s.key)
				if ok != s.wantOK || n != s.wantSuppressed {
					t.Fatalf("step %d: allow(%q) = %v, %d; want %v, %d", i, s.key, ok, n, s.wantOK, s.wantSuppressed)
				}
			}
			if got := l.lru.Len(); got > tt.keys || got != len(l.entries) {
				t.Errorf("lru holds %d keys, map %d; want equal and at most %d", got, len(l.entries), tt.keys)
			}
		})
	}
}

// TestLogRateProtocolErrors: a device that reconnects in a loop and sends a
// malformed packet each time gets at most logRateLines disconnect lines per
// minute; the next line after the window says how many were suppressed, and
// the disconnect counter counts every one.
func TestLogRateProtocolErrors(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s, err := New(testConfig(t.TempDir()), &fakeSink{}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	s.logRate.now = clk.Now
	testkit.Start(t, s, s.Ready())
	addr := s.Addr("tcp").String()

	badOnce := func(id string) {
		w := mqttwire.Dial(t, addr, packets.V311)
		w.Connect(id)
		w.SendRaw([]byte{0x00, 0x00}) // packet type 0 is reserved: malformed
		w.ExpectClosed(5 * time.Second)
	}
	disconnectLines := func(client string) []observer.LoggedEntry {
		return logs.FilterMessage("mqtt: disconnect").FilterField(zap.String("client", client)).AllUntimed()
	}
	bucket := func(key string) (n, suppressed int) {
		s.logRate.mu.Lock()
		defer s.logRate.mu.Unlock()
		if e, ok := s.logRate.entries[key]; ok {
			b := e.Value.(*logBucket)
			return b.n, b.suppressed
		}
		return 0, 0
	}

	const tries = logRateLines + 15
	for range tries {
		badOnce("bad-dev")
	}
	waitFor(t, 5*time.Second, "every disconnect counted", func() bool {
		st := s.Stats()
		return st.Disconnects[ReasonMalformedPacket.String()]+st.Disconnects[ReasonProtocolError.String()] == tries
	})
	waitFor(t, 5*time.Second, "every line logged or suppressed", func() bool {
		n, sup := bucket("bad-dev")
		return n == logRateLines && sup == tries-logRateLines && len(disconnectLines("bad-dev")) == logRateLines
	})

	// Another client is not affected.
	badOnce("other-dev")
	waitFor(t, 5*time.Second, "other-dev's line", func() bool { return len(disconnectLines("other-dev")) == 1 })

	// A minute later one more line, which reports the suppressed ones.
	clk.Add(logRateWindow)
	badOnce("bad-dev")
	waitFor(t, 5*time.Second, "the line after the window", func() bool { return len(disconnectLines("bad-dev")) == logRateLines+1 })
	got := disconnectLines("bad-dev")
	last := got[len(got)-1].ContextMap()
	if last["suppressed"] != int64(tries-logRateLines) {
		t.Errorf("line after the window has suppressed=%v; want %d (fields %v)", last["suppressed"], tries-logRateLines, last)
	}
	for _, e := range got[:logRateLines] {
		if _, ok := e.ContextMap()["suppressed"]; ok {
			t.Errorf("a line within the first window has a suppressed field: %v", e.ContextMap())
		}
	}
}
