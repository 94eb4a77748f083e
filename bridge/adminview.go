package bridge

import (
	"sync"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge/admin"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// adminView is the bridge as the admin package reads it (admin.Bridge):
// snapshots of the probe, the producer, the consumer, the parts' states,
// the rules and the per-rule counters. The MQTT front end is handed over as it is (admin.Front).
type adminView struct{ b *Bridge }

var (
	_ admin.Bridge = adminView{}
	_ admin.Front  = (*mqttfront.Server)(nil)
)

// Kafka also latches the producer's first connection (producerDialed):
// the chart sampler calls it every 5 s, so the latch is set even when
// nobody asks.
func (v adminView) Kafka() admin.KafkaState {
	b := v.b
	b.producerDialed()
	k := admin.KafkaState{Reachable: b.kafkaConnected(), Probe: b.probe.Health(), Producer: b.producer.Stats(),
		Spool: b.cfg.Kafka.Spool.Enabled}
	if b.consumer != nil {
		k.Consumer = b.consumer.Health()
		k.Downlink, k.Lag = true, k.Consumer.Lag
	}
	return k
}

func (v adminView) Parts() []admin.Part {
	ps := v.b.parts()
	out := make([]admin.Part, len(ps))
	for i, p := range ps {
		out[i] = admin.Part(p)
	}
	return out
}

func (v adminView) Readiness() (bool, any) {
	r := v.b.readiness()
	return r.Ready, r
}

func (v adminView) Rules() *mapping.Rules   { return v.b.rules.Load() }
func (v adminView) Mapping() mapping.Config { return v.b.cfg.Mapping }

func (v adminView) Routes() admin.Routes {
	rs := &v.b.metrics.routes
	r := admin.Routes{Uplink: map[string]admin.RouteCount{}, Downlink: map[string]admin.RouteCount{},
		Unmatched: rs.unmatched.Load(), LatencyNanos: rs.latNanos.Load(), LatencyCount: rs.latCount.Load()}
	copyCounts := func(m *sync.Map, out map[string]admin.RouteCount) {
		m.Range(func(k, c any) bool {
			out[k.(string)] = admin.RouteCount(c.(*routeCounters).snapshot())
			return true
		})
	}
	copyCounts(&rs.up, r.Uplink)
	copyCounts(&rs.down, r.Downlink)
	return r
}
