package bridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

var (
	dKafkaConnected = prometheus.NewDesc(ns+"_kafka_connected", "1 when Kafka takes records in time (with the spool: the uplink is direct or draining).", nil, nil)
	dInFlight       = prometheus.NewDesc(ns+"_produce_in_flight", "Records accepted by the producer and not yet acknowledged.", nil, nil)
	dProduced       = prometheus.NewDesc(ns+"_produced_total", "Records acknowledged by Kafka.", nil, nil)
	dConsumerLag    = prometheus.NewDesc(ns+"_downlink_consumer_lag", "Records behind the high watermark, summed over assigned partitions.", nil, nil)
	dSpoolState     = prometheus.NewDesc(ns+"_spool_state", "1 for the uplink's current state: direct, spilling, draining or blocked.", []string{"state"}, nil)
	dSpoolRecords   = prometheus.NewDesc(ns+"_spool_records", "Records in the disk spool not yet acknowledged by Kafka.", nil, nil)
	dSpoolBytes     = prometheus.NewDesc(ns+"_spool_bytes", "Bytes of the spool's segment files.", nil, nil)
	dSpoolQuota     = prometheus.NewDesc(ns+"_spool_quota_bytes", "The spool's disk quota.", nil, nil)
	dSpoolOldest    = prometheus.NewDesc(ns+"_spool_oldest_age_seconds", "Age of the oldest record in the spool.", nil, nil)
	dSpooled        = prometheus.NewDesc(ns+"_spool_spilled_total", "Records made durable in the spool.", nil, nil)
	dDrained        = prometheus.NewDesc(ns+"_spool_drained_total", "Spooled records delivered to Kafka.", nil, nil)
	dReplayed       = prometheus.NewDesc(ns+"_spool_replayed_total", "Of the drained records, those left by an earlier run (possible duplicates).", nil, nil)
	dSpills         = prometheus.NewDesc(ns+"_spool_spills_total", "Switches from direct to spilling.", nil, nil)
	dSpoolRecovered = prometheus.NewDesc(ns+"_spool_recovered_records", "Unacked records found in the spool at start, to be replayed.", nil, nil)
	dSpoolTruncated = prometheus.NewDesc(ns+"_spool_truncated_bytes", "Damaged bytes cut from segment tails at start.", nil, nil)
	dSpoolCorrupt   = prometheus.NewDesc(ns+"_spool_corrupt_segments", "Segments with a bad header set aside at start.", nil, nil)
	dSpoolSkipped   = prometheus.NewDesc(ns+"_spool_skipped_bytes", "Damaged bytes skipped inside segments at start (the records after them were recovered).", nil, nil)
	dSpoolLost      = prometheus.NewDesc(ns+"_spool_lost_records", "Records found damaged at start and not replayed.", nil, nil)
	dProducerDrops  = prometheus.NewDesc(ns+"_produce_drops_total", "Records the producer dropped, by reason (shed QoS 0, ...).", []string{"reason"}, nil)
)

var spoolStates = []string{kafka.StateDirect, kafka.StateSpilling, kafka.StateDraining, kafka.StateBlocked}

// collectKafka adds the Kafka side to a scrape.
func (b *Bridge) collectKafka(ch chan<- prometheus.Metric) {
	connected := 0.0
	if b.kafkaReachable() {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(dKafkaConnected, prometheus.GaugeValue, connected)
	ps := b.producer.Stats()
	ch <- prometheus.MustNewConstMetric(dInFlight, prometheus.GaugeValue, float64(ps.InFlight))
	ch <- prometheus.MustNewConstMetric(dProduced, prometheus.CounterValue, float64(ps.Produced))
	b.collectPressure(ch, ps)
	if b.consumer != nil {
		ch <- prometheus.MustNewConstMetric(dConsumerLag, prometheus.GaugeValue, float64(b.consumer.Lag()))
	}
	for reason, n := range ps.Dropped {
		ch <- prometheus.MustNewConstMetric(dProducerDrops, prometheus.CounterValue, float64(n), reason)
	}
	if !b.cfg.Kafka.Spool.Enabled {
		return
	}
	for _, s := range spoolStates {
		v := 0.0
		if s == ps.State {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(dSpoolState, prometheus.GaugeValue, v, s)
	}
	sp := ps.Spool
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(dSpoolRecords, float64(sp.Records))
	gauge(dSpoolBytes, float64(sp.Bytes))
	gauge(dSpoolQuota, float64(sp.QuotaBytes))
	gauge(dSpoolOldest, sp.OldestAge.Seconds())
	counter(dSpooled, float64(ps.Spilled))
	counter(dDrained, float64(ps.Drained))
	counter(dReplayed, float64(ps.Replayed))
	counter(dSpills, float64(ps.Spills))
	gauge(dSpoolRecovered, float64(sp.Recovered))
	gauge(dSpoolTruncated, float64(sp.TruncatedBytes))
	gauge(dSpoolCorrupt, float64(sp.CorruptSegments))
	gauge(dSpoolSkipped, float64(sp.SkippedBytes))
	gauge(dSpoolLost, float64(sp.LostRecords))
}

// kafkaReachable says whether Kafka takes records in time. The producer's
// client stays "connected" while brokers are down (sarama keeps retrying), so
// with the spool on, the hybrid state is the better signal: spilling means
// Kafka did not answer in time, draining means a probe just succeeded.
// Without the spool nothing spills, so a periodic dial of the bootstrap
// servers (kafkaprobe.go) catches a stopped cluster while no records flow.
func (b *Bridge) kafkaReachable() bool {
	if !b.producer.Connected() {
		return false
	}
	if !b.cfg.Kafka.Spool.Enabled {
		if b.probe != nil {
			if ok, known := b.probe.Reachable(); known && !ok {
				return false
			}
		}
		return true
	}
	switch b.producer.State() {
	case kafka.StateDirect, kafka.StateDraining:
		return true
	default:
		return false
	}
}

// readiness is the /readyz body.
type readiness struct {
	Ready          bool   `json:"ready"`
	MQTTListening  bool   `json:"mqtt_listening"`
	KafkaConnected bool   `json:"kafka_connected"`
	Spool          string `json:"spool"` // disabled, direct, spilling, draining or blocked
	SpoolRecords   int64  `json:"spool_records"`
}

func (b *Bridge) readiness() readiness {
	r := readiness{KafkaConnected: b.kafkaReachable(), Spool: "disabled"}
	select {
	case <-b.front.Ready():
		r.MQTTListening = true
	default:
	}
	if !b.cfg.Kafka.Spool.Enabled {
		// Without the spool the uplink accepts messages only while Kafka is
		// reachable.
		r.Ready = r.MQTTListening && r.KafkaConnected
		return r
	}
	ps := b.producer.Stats()
	r.Spool = ps.State
	r.SpoolRecords = ps.Spool.Records
	// With it, the uplink accepts messages directly or through the spool,
	// unless the spool's quota is full.
	r.Ready = r.MQTTListening && ps.State != kafka.StateBlocked
	return r
}
