package bridge

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// metrics are the bridge's Prometheus families. Label sets are bounded: rule
// names, Kafka topics of the rules, reasons and kinds; never a client id.
type metrics struct {
	reg             *prometheus.Registry
	uplinkRecords   *prometheus.CounterVec
	unmatched       prometheus.Counter
	uplinkDrops     *prometheus.CounterVec
	deadLettered    *prometheus.CounterVec
	produceErrors   *prometheus.CounterVec
	produceLatency  prometheus.Histogram
	downlinkRecords *prometheus.CounterVec
	downlinkDrops   *prometheus.CounterVec
	reloads         *prometheus.CounterVec
	fsyncLatency    prometheus.Histogram
	downlinkLatency prometheus.Histogram
	adminRefused    *prometheus.CounterVec
	routes          routeStats // per-rule counters for the admin API (routestats.go)
}

const ns = "mqtt_bridge"

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		uplinkRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "uplink_records_total",
			Help: "Records handed to the Kafka producer, by uplink rule and Kafka topic."}, []string{"rule", "kafka_topic"}),
		unmatched: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "uplink_unmatched_total",
			Help: "Publishes that matched no uplink rule."}),
		uplinkDrops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "uplink_drops_total",
			Help: "Publishes not sent to Kafka, by reason."}, []string{"reason"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dead_lettered_total",
			Help: "Records sent to the dead-letter topic, by reason."}, []string{"reason"}),
		produceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "produce_errors_total",
			Help: "Records Kafka did not acknowledge, by error kind."}, []string{"kind"}),
		produceLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "produce_latency_seconds",
			Help:    "Time from the device's publish arriving to Kafka's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		downlinkRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "downlink_records_total",
			Help: "Kafka records published to MQTT, by downlink rule."}, []string{"rule"}),
		downlinkDrops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "downlink_drops_total",
			Help: "Kafka records not published to MQTT, by reason."}, []string{"reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "config_reloads_total",
			Help: "SIGHUP reloads by result (applied, refused)."}, []string{"result"}),
		downlinkLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "downlink_commit_latency_seconds",
			Help:    "Time from consuming a Kafka record to its offset becoming committable: delivered to, or durably queued for, every matching session.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		adminRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "admin_requests_refused_total",
			Help: "Admin listener requests refused before routing, by reason: host (not a name of the listener, DNS rebinding), origin, cross_site (Sec-Fetch-Site), content_type (not application/json)."}, []string{"reason"}),
		fsyncLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "spool_fsync_seconds",
			Help:    "Duration of the spool's fsync rounds (group commits).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
	}
	m.reg.MustRegister(m.uplinkRecords, m.unmatched, m.uplinkDrops, m.deadLettered, m.produceErrors,
		m.produceLatency, m.downlinkRecords, m.downlinkDrops, m.reloads, m.fsyncLatency, m.downlinkLatency,
		m.adminRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// frontCollector turns the front end's counters into metrics at scrape time.
type frontCollector struct {
	stats func() mqttfront.Stats
	extra func(ch chan<- prometheus.Metric)
}

var (
	dConnections   = prometheus.NewDesc(ns+"_connections", "Open MQTT connections.", nil, nil)
	dConnTotal     = prometheus.NewDesc(ns+"_connections_total", "MQTT connections accepted since start.", nil, nil)
	dConnects      = prometheus.NewDesc(ns+"_connects_total", "CONNECT attempts by CONNACK result.", []string{"result"}, nil)
	dPackets       = prometheus.NewDesc(ns+"_packets_total", "MQTT packets by type and direction.", []string{"type", "direction"}, nil)
	dBytes         = prometheus.NewDesc(ns+"_bytes_total", "MQTT bytes by direction.", []string{"direction"}, nil)
	dMessages      = prometheus.NewDesc(ns+"_messages_total", "PUBLISH messages by QoS and direction.", []string{"qos", "direction"}, nil)
	dDrops         = prometheus.NewDesc(ns+"_mqtt_drops_total", "Messages the front end dropped, by reason.", []string{"reason"}, nil)
	dDisconnects   = prometheus.NewDesc(ns+"_disconnects_total", "Disconnects by reason.", []string{"reason"}, nil)
	dSessions      = prometheus.NewDesc(ns+"_sessions", "Sessions held, online or not.", nil, nil)
	dSubscriptions = prometheus.NewDesc(ns+"_subscriptions", "Subscriptions held.", nil, nil)
	dRetained      = prometheus.NewDesc(ns+"_retained_messages", "Retained messages held.", nil, nil)
	dRetainedBytes = prometheus.NewDesc(ns+"_retained_bytes", "Bytes of the retained messages held (topic, payload, properties).", nil, nil)
	dLimitHits     = prometheus.NewDesc(ns+"_mqtt_limit_hits_total", "Times a configured MQTT limit refused something, by config key.", []string{"limit"}, nil)
	dStoreBytes    = prometheus.NewDesc(ns+"_store_file_bytes", "Size of the MQTT state file mqtt.db (0 without mqtt.data_dir).", nil, nil)
	dStoreReclaim  = prometheus.NewDesc(ns+"_store_compaction_reclaimed_bytes", "Bytes the compaction at start took off mqtt.db (0 when it did not run).", nil, nil)
	dAuthHash      = prometheus.NewDesc(ns+"_auth_bcrypt_checks", "bcrypt password checks now, running or waiting for a slot (mqtt.auth.bcrypt_concurrency).", []string{"state"}, nil)
	dAuthBlocks    = prometheus.NewDesc(ns+"_auth_backoff_blocks_total", "Times a source address was blocked after too many failed logins (mqtt.auth.failure_backoff).", nil, nil)
	dAuthRefused   = prometheus.NewDesc(ns+"_auth_backoff_refused_total", "Logins refused without a password check because their address was blocked.", nil, nil)
	dAuthAddresses = prometheus.NewDesc(ns+"_auth_backoff_addresses", "Source addresses in the failed-login table.", nil, nil)
)

func (c *frontCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *frontCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	gauge(dConnections, float64(st.ConnectionsCurrent))
	counter(dConnTotal, float64(st.ConnectionsTotal))
	for k, v := range st.Connects {
		counter(dConnects, float64(v), k)
	}
	for k, v := range st.PacketsIn {
		counter(dPackets, float64(v), k, "in")
	}
	for k, v := range st.PacketsOut {
		counter(dPackets, float64(v), k, "out")
	}
	counter(dBytes, float64(st.BytesIn), "in")
	counter(dBytes, float64(st.BytesOut), "out")
	for q := 0; q < 3; q++ {
		qs := string(rune('0' + q))
		counter(dMessages, float64(st.MessagesIn[q]), qs, "in")
		counter(dMessages, float64(st.MessagesOut[q]), qs, "out")
	}
	for k, v := range st.Drops {
		counter(dDrops, float64(v), k)
	}
	for k, v := range st.Disconnects {
		counter(dDisconnects, float64(v), k)
	}
	gauge(dSessions, float64(st.Sessions))
	gauge(dSubscriptions, float64(st.Subscriptions))
	gauge(dRetained, float64(st.Retained))
	gauge(dRetainedBytes, float64(st.RetainedBytes))
	for k, v := range st.Limits {
		counter(dLimitHits, float64(v), k)
	}
	gauge(dStoreBytes, float64(st.StoreFileBytes))
	gauge(dStoreReclaim, float64(st.StoreReclaimedBytes))
	gauge(dAuthHash, float64(st.Auth.HashRunning), "running")
	gauge(dAuthHash, float64(st.Auth.HashWaiting), "waiting")
	counter(dAuthBlocks, float64(st.Auth.BackoffBlocks))
	counter(dAuthRefused, float64(st.Auth.BackoffRefused))
	gauge(dAuthAddresses, float64(st.Auth.BackoffAddresses))
	if c.extra != nil {
		c.extra(ch)
	}
}
