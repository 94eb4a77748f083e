package bridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iotbridge/mqtt-kafka-bridge/cluster"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// The janitor of dead replicas' sessions and wills (cluster/README.md,
// "Wills of dead replicas"): the front end delivers and uplinks the wills
// it fires, and its counters are metrics.

var _ cluster.WillPublisher = (*mqttfront.Server)(nil)

// attachJanitor plugs the front end into the node's janitor and registers
// its metrics (before anything runs).
func (b *Bridge) attachJanitor(node *cluster.Node) {
	node.Janitor().Attach(b.front)
	b.metrics.reg.MustRegister(janitorCollector{node.Janitor()})
}

var (
	dJanitorHeld    = prometheus.NewDesc(ns+"_cluster_janitor_held", "1 while this replica holds the janitor role (elected by the <prefix>janitor consumer group).", nil, nil)
	dJanitorDead    = prometheus.NewDesc(ns+"_cluster_dead_replicas_detected_total", "Replica incarnations this replica, as janitor, found dead (heartbeat older than cluster.replica_timeout in the broker's clock, not stopping) while they owned sessions.", nil, nil)
	dJanitorReaped  = prometheus.NewDesc(ns+"_cluster_janitor_sessions_reaped_total", "Online sessions of dead replicas this replica's janitor took offline by a valid reap record.", nil, nil)
	dJanitorWills   = prometheus.NewDesc(ns+"_cluster_janitor_wills_fired_total", "Wills of dead replicas' sessions fired by this replica's janitor (each will once in the cluster, decided by log order).", nil, nil)
	dJanitorRedone  = prometheus.NewDesc(ns+"_cluster_janitor_uplinks_redone_total", "Reaps of a janitor that died before confirming them, whose will uplink (retained + Kafka) this janitor redid.", nil, nil)
	dJanitorApplied = prometheus.NewDesc(ns+"_cluster_reaps_applied_total", "Valid reap records this replica applied (it delivered their wills to its own subscribers).", nil, nil)
)

// janitorCollector turns the janitor's counters into metrics at scrape
// time.
type janitorCollector struct{ j *cluster.Janitor }

func (c janitorCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c janitorCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.j.Stats()
	held := 0.0
	if st.Held {
		held = 1
	}
	ch <- prometheus.MustNewConstMetric(dJanitorHeld, prometheus.GaugeValue, held)
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(dJanitorDead, st.DeadReplicas)
	counter(dJanitorReaped, st.SessionsReaped)
	counter(dJanitorWills, st.WillsFired)
	counter(dJanitorRedone, st.UplinksRedone)
	counter(dJanitorApplied, st.ReapsApplied)
}
