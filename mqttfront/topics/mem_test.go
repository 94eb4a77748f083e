package topics

import (
	"fmt"
	"runtime"
	"testing"
)

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkMemory reports the heap cost per entry of 100,000 exact
// subscriptions devices/{n}/commands (one client each) and of 100,000
// retained topics, not counting the id and topic strings themselves. It
// builds each structure once; ns/op is meaningless.
func BenchmarkMemory(b *testing.B) {
	const n = 100000
	ids := make([]string, n)
	filters := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%d", i)
		filters[i] = fmt.Sprintf("devices/%d/commands", i)
	}
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			before := heapAlloc()
			ix := NewIndex()
			for i := range ids {
				ix.Add(Sub{ClientID: ids[i], Filter: filters[i], QoS: 1})
			}
			b.ReportMetric(float64(heapAlloc()-before)/n, "B/sub")
			runtime.KeepAlive(ix)
		}
	})
	b.Run("retained", func(b *testing.B) {
		v := new(int)
		for b.Loop() {
			before := heapAlloc()
			r := NewRetained[*int]()
			for i := range filters {
				r.Set(filters[i], v)
			}
			b.ReportMetric(float64(heapAlloc()-before)/n, "B/topic")
			runtime.KeepAlive(r)
		}
	})
}
