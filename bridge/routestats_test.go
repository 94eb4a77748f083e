package bridge

import (
	"testing"
	"time"
)

func TestRouteStats(t *testing.T) {
	var rs routeStats
	rs.uplink("a").Matched.Add(1)
	rs.uplink("a").Produced.Add(1)
	rs.uplink("").Failed.Add(1)
	rs.downlink("a").DeadLettered.Add(1)
	rs.observeLatency(3 * time.Millisecond)
	if got := rs.uplink("a").snapshot(); got != (routeCount{Matched: 1, Produced: 1}) {
		t.Errorf("uplink a = %+v; want matched 1, produced 1", got)
	}
	if got := rs.uplink("(none)").snapshot(); got.Failed != 1 {
		t.Errorf(`uplink "" counted under (none) = %+v; want failed 1`, got)
	}
	if got := rs.downlink("a").snapshot(); got != (routeCount{DeadLettered: 1}) {
		t.Errorf("downlink a = %+v; want dead_lettered 1 (separate from uplink a)", got)
	}
	if rs.latCount.Load() != 1 || rs.latNanos.Load() != int64(3*time.Millisecond) {
		t.Errorf("latency sum/count = %d/%d; want 3ms/1", rs.latNanos.Load(), rs.latCount.Load())
	}
}

// BenchmarkRouteStatsUplink is the per-publish cost the counters add to
// the uplink: one lookup and one increment.
func BenchmarkRouteStatsUplink(b *testing.B) {
	var rs routeStats
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rs.uplink("telemetry").Matched.Add(1)
		}
	})
}
