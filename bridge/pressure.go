package bridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

// The uplink's decision under load (kafka/README.md, "Overload is not an
// outage"): a full window while Kafka answers is backpressure (Produce
// waits, devices' acks are withheld, nothing spills); only a Kafka that
// stalls, refuses or fails records makes the uplink spill, for a reason.
var (
	dWindowFull   = prometheus.NewDesc(ns+"_produce_window_full_total", "Produce calls that found the producer's window full and waited for Kafka (backpressure: Kafka answers, slower than the load; nothing spills).", nil, nil)
	dWaiting      = prometheus.NewDesc(ns+"_produce_waiting", "Produce calls waiting for a slot in the producer's window now (backpressure).", nil, nil)
	dSpillReasons = prometheus.NewDesc(ns+"_spool_spill_reason_total", "Switches from direct to spilling, by reason: kafka_slow (no answer for spill_after_ms, or one partition stuck while others answer), kafka_error, not_connected, ack_spool.", []string{"reason"}, nil)
)

// collectPressure adds the backpressure and spill-reason series to a scrape.
func (b *Bridge) collectPressure(ch chan<- prometheus.Metric, ps kafka.ProducerStats) {
	ch <- prometheus.MustNewConstMetric(dWindowFull, prometheus.CounterValue, float64(ps.WindowFull))
	ch <- prometheus.MustNewConstMetric(dWaiting, prometheus.GaugeValue, float64(ps.Waiting))
	for reason, n := range ps.SpillReasons {
		ch <- prometheus.MustNewConstMetric(dSpillReasons, prometheus.CounterValue, float64(n), reason)
	}
}
