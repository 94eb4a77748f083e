package admin

import (
	"testing"
	"time"
)

func TestHistoryRing(t *testing.T) {
	var n uint64
	now := time.Unix(1000, 0)
	h := newHistory(time.Second, 3, func() counterSnap {
		n += 10
		now = now.Add(time.Second)
		return counterSnap{t: now, in: n, out: 2 * n, latNanos: int64(n) * 1e6, latCount: n / 10}
	})
	if _, ok := h.latest(); ok {
		t.Fatal("latest before any interval = ok; want none")
	}
	for range 5 {
		h.tick()
	}
	s := h.samples()
	if len(s) != 3 || !s[0].T.Before(s[2].T) {
		t.Fatalf("samples = %+v; want the last 3, oldest first", s)
	}
	if s[2].MessagesInRate != 10 || s[2].MessagesOutRate != 20 {
		t.Errorf("rates = %v in, %v out; want 10 and 20 per second", s[2].MessagesInRate, s[2].MessagesOutRate)
	}
	if s[2].LatencyMs <= 0 {
		t.Errorf("latency = %v ms; want > 0", s[2].LatencyMs)
	}
}
