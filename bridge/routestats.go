package bridge

import (
	"sync"
	"sync/atomic"
	"time"
)

// routeCounters are one rule's counters for the admin API. For an uplink
// rule: matched publishes, records Kafka acknowledged, records that failed
// (not acknowledged, device not acked or record lost for QoS 0), and dead
// letters. For a downlink rule: records mapped, published to MQTT, not
// published, and dead-lettered.
type routeCounters struct {
	Matched      atomic.Uint64
	Produced     atomic.Uint64
	Failed       atomic.Uint64
	DeadLettered atomic.Uint64
}

// routeStats keeps routeCounters per rule name, plus the produce latency
// sum and count the dashboard charts. The Prometheus vecs hold the same
// facts by other labels; these are plain atomics so the API reads them
// without a scrape.
type routeStats struct {
	up, down  sync.Map // rule name → *routeCounters
	latNanos  atomic.Int64
	latCount  atomic.Uint64
	unmatched atomic.Uint64
}

func (rs *routeStats) counters(m *sync.Map, rule string) *routeCounters {
	rule = ruleLabel(rule)
	if c, ok := m.Load(rule); ok {
		return c.(*routeCounters)
	}
	c, _ := m.LoadOrStore(rule, &routeCounters{})
	return c.(*routeCounters)
}

func (rs *routeStats) uplink(rule string) *routeCounters   { return rs.counters(&rs.up, rule) }
func (rs *routeStats) downlink(rule string) *routeCounters { return rs.counters(&rs.down, rule) }

func (rs *routeStats) observeLatency(d time.Duration) {
	rs.latNanos.Add(int64(d))
	rs.latCount.Add(1)
}

// routeCount is the JSON form of routeCounters.
type routeCount struct {
	Matched      uint64 `json:"matched"`
	Produced     uint64 `json:"produced"`
	Failed       uint64 `json:"failed"`
	DeadLettered uint64 `json:"dead_lettered"`
}

func (c *routeCounters) snapshot() routeCount {
	return routeCount{Matched: c.Matched.Load(), Produced: c.Produced.Load(), Failed: c.Failed.Load(), DeadLettered: c.DeadLettered.Load()}
}
