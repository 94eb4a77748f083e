package admin

import (
	"context"
	"sync"
	"time"
)

// sample is one point of the dashboard's charts: gauges at T, and rates
// over the interval since the previous sample.
type sample struct {
	T               time.Time `json:"t"`
	Connections     int64     `json:"connections"`
	MessagesInRate  float64   `json:"messages_in_per_s"`  // PUBLISH from devices
	MessagesOutRate float64   `json:"messages_out_per_s"` // PUBLISH to devices
	ProducedRate    float64   `json:"produced_per_s"`     // records Kafka acknowledged (direct path)
	LatencyMs       float64   `json:"produce_latency_ms"` // mean publish-to-ack latency of QoS 1/2 records in the interval; 0 when none
	SpoolRecords    int64     `json:"spool_records"`
}

// raw counters behind a sample.
type counterSnap struct {
	t            time.Time
	in, out      uint64
	produced     uint64
	latNanos     int64
	latCount     uint64
	conns        int64
	spoolRecords int64
}

// history samples the bridge's counters every interval and keeps the last
// size samples in a ring (5 s × 180 = 15 minutes by default). It lives in
// memory only.
type history struct {
	interval time.Duration
	read     func() counterSnap

	mu    sync.Mutex
	ring  []sample
	next  int
	full  bool
	last  counterSnap
	first bool
}

func newHistory(interval time.Duration, size int, read func() counterSnap) *history {
	return &history{interval: interval, read: read, ring: make([]sample, size)}
}

// run samples until ctx ends.
func (h *history) run(ctx context.Context) {
	h.tick()
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.tick()
		}
	}
}

func (h *history) tick() {
	c := h.read()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.first {
		h.first, h.last = true, c
		return
	}
	p := h.last
	h.last = c
	dt := c.t.Sub(p.t).Seconds()
	if dt <= 0 {
		return
	}
	s := sample{T: c.t, Connections: c.conns, SpoolRecords: c.spoolRecords,
		MessagesInRate:  rate(c.in, p.in, dt),
		MessagesOutRate: rate(c.out, p.out, dt),
		ProducedRate:    rate(c.produced, p.produced, dt),
	}
	if n := c.latCount - p.latCount; n > 0 && c.latCount > p.latCount {
		s.LatencyMs = float64(c.latNanos-p.latNanos) / float64(n) / 1e6
	}
	h.ring[h.next] = s
	h.next = (h.next + 1) % len(h.ring)
	if h.next == 0 {
		h.full = true
	}
}

func rate(now, before uint64, dt float64) float64 {
	if now < before {
		return 0
	}
	return float64(now-before) / dt
}

// samples returns the ring, oldest first.
func (h *history) samples() []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]sample(nil), h.ring[:h.next]...)
	}
	out := make([]sample, 0, len(h.ring))
	out = append(out, h.ring[h.next:]...)
	return append(out, h.ring[:h.next]...)
}

// latest returns the newest sample, if any.
func (h *history) latest() (sample, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full && h.next == 0 {
		return sample{}, false
	}
	return h.ring[(h.next+len(h.ring)-1)%len(h.ring)], true
}
