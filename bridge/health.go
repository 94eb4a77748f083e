package bridge

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

var (
	dKafkaConnected = prometheus.NewDesc(ns+"_kafka_connected", "1 when the last Kafka probe (a metadata request every second, with the bridge's TLS/SASL settings) found a broker and a leader for every partition of the mapped topics, and the producer has connected. Follows Kafka within 5 s, traffic or none.", nil, nil)
	dProbeState     = prometheus.NewDesc(ns+"_kafka_probe_state", "1 for the Kafka probe's verdict: unknown, up, degraded (partitions without leader, topic refused) or down.", []string{"state"}, nil)
	dProbeReason    = prometheus.NewDesc(ns+"_kafka_probe_reason", "1 for the reason of the Kafka probe's verdict: ok, starting, no_leader, unreachable, timeout, not_authorized, other.", []string{"reason"}, nil)
	dProbeLatency   = prometheus.NewDesc(ns+"_kafka_probe_latency_seconds", "Duration of the last Kafka probe round.", nil, nil)
	dProbeTime      = prometheus.NewDesc(ns+"_kafka_probe_timestamp_seconds", "Unix time the last Kafka probe round ended (or was given up after 3 s).", nil, nil)
	dLeaderless     = prometheus.NewDesc(ns+"_kafka_leaderless_partitions", "Partitions of the mapped topics without a leader, in the last probe's answer.", nil, nil)
	dPartUp         = prometheus.NewDesc(ns+"_part_up", "1 when the part does its job: kafka (probe up), producer (connected), spool (accepting: not blocked), downlink (holds partitions or is idle in its group), listener_<name> (listening).", []string{"part"}, nil)
	dPartState      = prometheus.NewDesc(ns+"_part_state", "1 for each part's current state and reason (one series per part; see README).", []string{"part", "state", "reason"}, nil)
	dConsumerParts  = prometheus.NewDesc(ns+"_downlink_assigned_partitions", "Partitions the downlink consumer holds now.", nil, nil)
	dConsumerGen    = prometheus.NewDesc(ns+"_downlink_group_generation", "Generation of the downlink group's current session (-1: none); it grows by one per rebalance of the group, the same at every member.", nil, nil)
	dConsumerAssign = prometheus.NewDesc(ns+"_downlink_partition_assignments_total", "Partitions the downlink consumer started reading since it started (a rebalance that moves nothing here adds none with cooperative-sticky).", nil, nil)
	dConsumerErrors = prometheus.NewDesc(ns+"_downlink_consumer_errors_total", "Errors the downlink consumer group reported (joining, sessions, fetches), by kind.", []string{"kind"}, nil)
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
	if b.kafkaConnected() {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(dKafkaConnected, prometheus.GaugeValue, connected)
	b.collectHealth(ch)
	ps := b.producer.Stats()
	ch <- prometheus.MustNewConstMetric(dInFlight, prometheus.GaugeValue, float64(ps.InFlight))
	ch <- prometheus.MustNewConstMetric(dProduced, prometheus.CounterValue, float64(ps.Produced))
	b.collectPressure(ch, ps)
	if b.consumer != nil {
		ch <- prometheus.MustNewConstMetric(dConsumerLag, prometheus.GaugeValue, float64(b.consumer.Lag()))
		cons := b.consumer.Health()
		ch <- prometheus.MustNewConstMetric(dConsumerParts, prometheus.GaugeValue, float64(len(cons.Partitions)))
		ch <- prometheus.MustNewConstMetric(dConsumerGen, prometheus.GaugeValue, float64(cons.Generation))
		ch <- prometheus.MustNewConstMetric(dConsumerAssign, prometheus.CounterValue, float64(cons.Assignments))
		for kind, n := range cons.Errors {
			ch <- prometheus.MustNewConstMetric(dConsumerErrors, prometheus.CounterValue, float64(n), kind)
		}
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

// collectHealth adds the probe's verdict and every part's state.
func (b *Bridge) collectHealth(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	one := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	h := b.probe.Health()
	for _, s := range []kafka.KafkaState{kafka.KafkaUnknown, kafka.KafkaUp, kafka.KafkaDegraded, kafka.KafkaDown} {
		gauge(dProbeState, one(h.State == s), string(s))
	}
	for _, r := range kafka.ProbeReasons {
		gauge(dProbeReason, one(h.Reason == r), r)
	}
	gauge(dProbeLatency, h.Latency.Seconds())
	if !h.Checked.IsZero() {
		gauge(dProbeTime, float64(h.Checked.UnixMilli())/1000)
	}
	gauge(dLeaderless, float64(h.LeaderlessCount))
	for _, p := range b.parts() {
		gauge(dPartUp, one(p.Up), p.Part)
		gauge(dPartState, 1, p.Part, p.State, p.Reason)
	}
}

// readiness is the /readyz body. kafka_connected, kafka_state and
// kafka_reason are Kafka's liveness (the probe); ready (and the status
// code) is whether the uplink accepts messages, which with the spool does
// not need Kafka.
type readiness struct {
	Ready          bool   `json:"ready"`
	MQTTListening  bool   `json:"mqtt_listening"`
	KafkaConnected bool   `json:"kafka_connected"`
	KafkaState     string `json:"kafka_state"`  // unknown, up, degraded or down
	KafkaReason    string `json:"kafka_reason"` // ok, starting, no_leader, unreachable, timeout, not_authorized, other
	Spool          string `json:"spool"`        // disabled, direct, spilling, draining or blocked
	SpoolRecords   int64  `json:"spool_records"`
	// Cluster is the cluster node's state (cluster mode only): ready once
	// it caught up with the high-water marks seen at start.
	Cluster string `json:"cluster,omitempty"`
	// Reason says why the bridge is not ready ("" when it is).
	Reason string `json:"reason,omitempty"`
}

func (b *Bridge) readiness() readiness {
	h := b.probe.Health()
	r := readiness{KafkaConnected: b.kafkaConnected(), KafkaState: string(h.State), KafkaReason: h.Reason, Spool: "disabled"}
	select {
	case <-b.front.Ready():
		r.MQTTListening = true
	default:
	}
	var clusterWhy string
	r.Cluster, clusterWhy = b.clusterReadiness()
	var reasons []string
	if !r.MQTTListening {
		reasons = append(reasons, "the MQTT listeners are not up")
	}
	if !b.cfg.Kafka.Spool.Enabled {
		// Without the spool the uplink accepts messages only while Kafka is
		// reachable.
		if !r.KafkaConnected {
			reasons = append(reasons, "Kafka is not connected ("+h.Reason+") and the spool is off")
		}
	} else {
		ps := b.producer.Stats()
		r.Spool = ps.State
		r.SpoolRecords = ps.Spool.Records
		// With it, the uplink accepts messages directly or through the
		// spool, unless the spool's quota is full.
		if ps.State == kafka.StateBlocked {
			reasons = append(reasons, "the spool is full (blocked)")
		}
	}
	if clusterWhy != "" {
		reasons = append(reasons, "cluster: "+clusterWhy)
	}
	r.Ready = len(reasons) == 0
	r.Reason = strings.Join(reasons, "; ")
	return r
}
