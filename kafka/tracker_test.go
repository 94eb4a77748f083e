package kafka

import (
	"math/rand/v2"
	"sync"
	"testing"
)

func TestOffsetTracker(t *testing.T) {
	type step struct {
		complete  int64
		wantNext  int64
		wantMoved bool
	}
	tests := []struct {
		name  string
		added []int64
		steps []step
	}{
		{"in order", []int64{5, 6, 7}, []step{{5, 6, true}, {6, 7, true}, {7, 8, true}}},
		{"out of order holds at the gap", []int64{5, 6, 7}, []step{{7, 5, false}, {6, 5, false}, {5, 8, true}}},
		{"offset gaps (compaction)", []int64{10, 13, 20}, []step{{13, 10, false}, {10, 14, true}, {20, 21, true}}},
		{"unknown offset ignored", []int64{1, 2}, []step{{9, 1, false}, {1, 2, true}}},
		{"double completion", []int64{1, 2}, []step{{1, 2, true}, {1, 2, false}, {2, 3, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newOffsetTracker()
			if got := tr.commitPoint(); got != -1 {
				t.Fatalf("commitPoint() before add = %d; want -1", got)
			}
			for _, o := range tt.added {
				tr.add(o)
			}
			for _, s := range tt.steps {
				next, moved := tr.complete(s.complete)
				if next != s.wantNext || moved != s.wantMoved {
					t.Fatalf("complete(%d) = %d, %v; want %d, %v", s.complete, next, moved, s.wantNext, s.wantMoved)
				}
			}
		})
	}
}

// Many records completed concurrently in random order: the commit point
// never passes an unfinished record and ends after the last one.
func TestOffsetTrackerConcurrent(t *testing.T) {
	const n = 5000
	tr := newOffsetTracker()
	for i := range int64(n) {
		tr.add(100 + i*2)
	}
	order := rand.Perm(n)
	var (
		mu       sync.Mutex
		finished = make([]bool, n)
		wg       sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				idx := order[i]
				mu.Lock()
				finished[idx] = true
				mu.Unlock()
				next, _ := tr.complete(100 + int64(idx)*2)
				mu.Lock()
				for j := 0; 100+int64(j)*2 < next; j++ {
					if !finished[j] {
						t.Errorf("commit point %d passed unfinished offset %d", next, 100+j*2)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got, want := tr.commitPoint(), int64(100+2*(n-1)+1); got != want {
		t.Fatalf("commitPoint() = %d; want %d", got, want)
	}
	if got := tr.outstanding(); got != 0 {
		t.Fatalf("outstanding() = %d; want 0", got)
	}
}

func BenchmarkOffsetTracker(b *testing.B) {
	tr := newOffsetTracker()
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		tr.add(off)
		tr.complete(off)
		off++
	}
}
