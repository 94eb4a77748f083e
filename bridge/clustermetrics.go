package bridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iotbridge/mqtt-kafka-bridge/cluster"
)

// The replicas' metrics of cluster mode (cluster/README.md, "Operations"),
// beside the node's own in cluster.go. The replica label is bounded by
// the replicas of the cluster (the replicas topic), never a client id.

var (
	dClusterReplicaAge = prometheus.NewDesc(ns+"_cluster_replica_heartbeat_age_seconds",
		"How far a replica's last heartbeat is behind the newest heartbeat in the replicas topic, in the broker's clock (LogAppendTime), as this replica sees it; beyond cluster.replica_timeout the replica is stale.",
		[]string{"replica"}, nil)
	dClusterReplicaState = prometheus.NewDesc(ns+"_cluster_replica_state",
		"1 for a replica's state as this replica sees it: starting, alive, stopping (its last heartbeat), stale (no heartbeat within cluster.replica_timeout), unknown (owns sessions, no heartbeat).",
		[]string{"replica", "state"}, nil)
	dClusterReplicaSessions = prometheus.NewDesc(ns+"_cluster_replica_sessions",
		"Sessions a replica owns as the sessions table says, by state: online (connected at its last state record), offline.",
		[]string{"replica", "state"}, nil)
	dClusterOwned = prometheus.NewDesc(ns+"_cluster_sessions_owned",
		"Sessions this replica owns as the sessions table says, by state: online, offline.",
		[]string{"state"}, nil)
	dClusterClaims = prometheus.NewDesc(ns+"_cluster_claims_total",
		"Session claims this replica made (one per CONNECT in cluster mode), by result: won, lost (a later claim was read first: the CONNECT lost a race), refused (owner binding: CONNACK 0x85), failed (not produced or read back within cluster.claim_timeout: CONNACK 0x88).",
		[]string{"result"}, nil)
	dClusterSuperseded = prometheus.NewDesc(ns+"_cluster_sessions_superseded_total",
		"Sessions this replica owned that a later claim took (the device connected elsewhere, or a claim here lost a race after the log applied it).",
		nil, nil)
	dClusterRepairs = prometheus.NewDesc(ns+"_cluster_session_repairs_total",
		"Session records this replica re-wrote after a fenced record or a tombstone landed over one of its live sessions.",
		nil, nil)
)

// clusterOpsCollector exports the node's view (Node.View) at scrape time;
// a view costs O(replicas) (the sessions per owner are kept as the table
// is applied).
type clusterOpsCollector struct{ node *cluster.Node }

func (c clusterOpsCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c clusterOpsCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.node.View()
	gauge := func(d *prometheus.Desc, val float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, val, l...)
	}
	counter := func(d *prometheus.Desc, val float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, val, l...)
	}
	for _, r := range v.Replicas {
		if !r.LastHeartbeat.IsZero() {
			gauge(dClusterReplicaAge, r.HeartbeatAge.Seconds(), r.ID)
		}
		for _, s := range cluster.ReplicaStates() {
			val := 0.0
			if s == r.State {
				val = 1
			}
			gauge(dClusterReplicaState, val, r.ID, s)
		}
		gauge(dClusterReplicaSessions, float64(r.SessionsOnline), r.ID, "online")
		gauge(dClusterReplicaSessions, float64(r.SessionsOffline), r.ID, "offline")
		if r.Self {
			gauge(dClusterOwned, float64(r.SessionsOnline), "online")
			gauge(dClusterOwned, float64(r.SessionsOffline), "offline")
		}
	}
	self := false
	for _, r := range v.Replicas {
		self = self || r.Self
	}
	if !self { // before the first heartbeat or claim is applied
		gauge(dClusterOwned, 0, "online")
		gauge(dClusterOwned, 0, "offline")
	}
	counter(dClusterClaims, float64(v.Claims.Won), "won")
	counter(dClusterClaims, float64(v.Claims.Lost), "lost")
	counter(dClusterClaims, float64(v.Claims.Refused), "refused")
	counter(dClusterClaims, float64(v.Claims.Failed), "failed")
	counter(dClusterSuperseded, float64(v.Claims.Superseded))
	counter(dClusterRepairs, float64(v.Repairs))
}
