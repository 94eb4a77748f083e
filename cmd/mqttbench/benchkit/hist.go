package benchkit

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Hist is a log-bucketed histogram of non-negative int64 values (durations in
// nanoseconds here). Values below 2^subBits are counted exactly; above, each
// power-of-two range is split into 2^subBits linear buckets, so a quantile is
// off by at most 1/2^subBits (1.6%) of its value. Record is lock-free and safe
// for concurrent use; the quantiles read a snapshot.
type Hist struct {
	counts [buckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
}

const (
	subBits = 6
	sub     = 1 << subBits
	buckets = (64 - subBits + 1) * sub
)

// bucketOf maps v to its bucket index.
func bucketOf(v int64) int {
	if v < sub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1 // v>>e is in [sub, 2*sub)
	return (e+1)*sub + int(uint64(v)>>e) - sub
}

// bucketValue is the midpoint of bucket i.
func bucketValue(i int) int64 {
	if i < sub {
		return int64(i)
	}
	e := i/sub - 1
	low := int64(sub+i%sub) << e
	return low + (int64(1)<<e)/2
}

// Record adds one value.
func (h *Hist) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// RecordDuration adds d in nanoseconds.
func (h *Hist) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Count is the number of values recorded.
func (h *Hist) Count() uint64 { return h.n.Load() }

// Max is the largest value recorded, exactly.
func (h *Hist) Max() int64 { return h.max.Load() }

// Mean is the exact mean, 0 when empty.
func (h *Hist) Mean() float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value at quantile q in [0,1] (0 when empty), within
// the relative error stated on Hist, and never above Max.
func (h *Hist) Quantile(q float64) int64 {
	var snap [buckets]uint64
	var total uint64
	for i := range snap {
		snap[i] = h.counts[i].Load()
		total += snap[i]
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range snap {
		seen += c
		if seen >= rank {
			v := bucketValue(i)
			if m := h.max.Load(); v > m {
				v = m
			}
			return v
		}
	}
	return h.max.Load()
}

// Merge adds every value of o to h.
func (h *Hist) Merge(o *Hist) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			return
		}
	}
}

// Quantiles is a JSON-friendly summary of a latency histogram, in milliseconds.
type Quantiles struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary returns h's quantiles in milliseconds.
func (h *Hist) Summary() Quantiles {
	ms := func(v int64) float64 { return float64(v) / 1e6 }
	return Quantiles{
		Count: h.Count(), Mean: h.Mean() / 1e6,
		P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)), Max: ms(h.Max()),
	}
}
