package bridge

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestFrontCollectorLimits: the front end's limit counters and retained
// bytes are exported.
func TestFrontCollectorLimits(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&frontCollector{stats: func() mqttfront.Stats {
		return mqttfront.Stats{RetainedBytes: 1234, Limits: map[string]uint64{"max_sessions": 3, "max_retained_bytes": 5}}
	}})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	for k, want := range map[string]float64{
		"mqtt_bridge_retained_bytes":                                  1234,
		"mqtt_bridge_mqtt_limit_hits_total{limit=max_sessions}":       3,
		"mqtt_bridge_mqtt_limit_hits_total{limit=max_retained_bytes}": 5,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v); want %v", k, v, ok, want)
		}
	}
}
