package benchkit

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestHistBuckets(t *testing.T) {
	// Every bucket's midpoint maps back to it, and indices grow with values.
	prev := -1
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		i := bucketOf(v)
		if i < prev || i >= buckets {
			t.Fatalf("bucketOf(%d) = %d after %d (buckets %d)", v, i, prev, buckets)
		}
		prev = i
		if back := bucketOf(bucketValue(i)); back != i {
			t.Errorf("bucketOf(bucketValue(%d)) = %d", i, back)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) int64
	}{
		{"uniform 0..1ms", func(r *rand.Rand) int64 { return r.Int64N(1e6) }},
		{"exponential mean 5ms", func(r *rand.Rand) int64 { return int64(r.ExpFloat64() * 5e6) }},
		{"small exact values", func(r *rand.Rand) int64 { return r.Int64N(50) }},
		{"bimodal 1us and 1s", func(r *rand.Rand) int64 {
			if r.IntN(100) == 0 {
				return 1e9 + r.Int64N(1e6)
			}
			return 1000 + r.Int64N(100)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h Hist
			vals := make([]int64, 100000)
			for i := range vals {
				vals[i] = tc.gen(r)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
				got := h.Quantile(q)
				// Bounded relative error: half a bucket, 1/(2*64) of the value, plus 1 for rounding.
				if diff := math.Abs(float64(got - exact)); diff > float64(exact)/float64(sub)+1 {
					t.Errorf("q%.3f = %d, exact %d (rel err %.4f)", q, got, exact, diff/float64(exact))
				}
			}
			if h.Max() != vals[len(vals)-1] || h.Count() != uint64(len(vals)) {
				t.Errorf("Max %d Count %d, want %d %d", h.Max(), h.Count(), vals[len(vals)-1], len(vals))
			}
		})
	}
}

func TestHistEmptyAndMerge(t *testing.T) {
	var a, b Hist
	if a.Quantile(0.99) != 0 || a.Mean() != 0 {
		t.Fatal("empty histogram not zero")
	}
	a.Record(10)
	b.Record(20)
	b.Record(-5) // clamped to 0
	a.Merge(&b)
	if a.Count() != 3 || a.Max() != 20 || a.Quantile(0) != 0 || a.Quantile(1) != 20 {
		t.Errorf("merged: count %d max %d q0 %d q1 %d", a.Count(), a.Max(), a.Quantile(0), a.Quantile(1))
	}
}

func TestHistConcurrent(t *testing.T) {
	var h Hist
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); i < 1000; i++ {
				h.Record(i)
			}
		}()
	}
	wg.Wait()
	if h.Count() != 8000 || h.Max() != 999 {
		t.Errorf("count %d max %d", h.Count(), h.Max())
	}
}

func BenchmarkHistRecord(b *testing.B) {
	var h Hist
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		h.Record(i * 7919)
	}
}
