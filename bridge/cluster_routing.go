package bridge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iotbridge/mqtt-kafka-bridge/cluster"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// Cluster routing's metrics (cluster/README.md, "Routing"), registered by
// newCluster (cluster.go), which builds the router before the front end
// runs.

var _ mqttfront.RemoteRouter = (*cluster.Router)(nil)

var (
	dClusterCopies   = prometheus.NewDesc(ns+"_cluster_copies_total", "Copies of messages this replica produced to other replicas' inboxes (forwards included): at most one per replica owning matching sessions per publish, never one per replica.", nil, nil)
	dClusterRouted   = prometheus.NewDesc(ns+"_cluster_routed_publishes_total", "Publishes at this replica that needed at least one copy for another replica; copies / routed publishes is the fan-out across replicas.", nil, nil)
	dClusterCopyErrs = prometheus.NewDesc(ns+"_cluster_copy_errors_total", "Copies Kafka did not take (the publish was answered with the error, or the downlink record not committed).", nil, nil)
	dClusterInbox    = prometheus.NewDesc(ns+"_cluster_inbox_copies_total", "Copies applied from this replica's inbox (delivered or queued here, or forwarded).", nil, nil)
	dClusterForwards = prometheus.NewDesc(ns+"_cluster_forwards_total", "Copies this replica forwarded to a session's current owner (the source's route table was stale).", nil, nil)
	dClusterDropped  = prometheus.NewDesc(ns+"_cluster_inbox_dropped_total", "Targets of copies dropped, by reason: no_session (the session ended), hops (forwarded too often), share_no_member (no replica holding members of a $share group had one allowed to take the message, at the publisher or an inbox).", []string{"reason"}, nil)
	dClusterShare    = prometheus.NewDesc(ns+"_cluster_share_picks_total", "$share group deliveries this replica decided (one per matching group per publish), by where: local (a member here), remote (a copy to another replica holding members).", []string{"where"}, nil)
	dClusterGroups   = prometheus.NewDesc(ns+"_cluster_route_share_groups", "$share group filters with members anywhere in this replica's route table.", nil, nil)
	dClusterDelivErr = prometheus.NewDesc(ns+"_cluster_inbox_store_errors_total", "Inbox copies whose durable queueing failed (store error; queued in memory only).", nil, nil)
	dClusterRoutes   = prometheus.NewDesc(ns+"_cluster_route_sessions", "Sessions in this replica's route table, by owning replica.", []string{"replica"}, nil)

	dClusterHandovers     = prometheus.NewDesc(ns+"_cluster_handovers_total", "Sessions handed over when their device reconnected at another replica, by direction: out (this replica was the old owner), in (the new owner).", []string{"direction"}, nil)
	dClusterHeld          = prometheus.NewDesc(ns+"_cluster_handover_messages_total", "Queued and inflight messages in handovers, by direction (out, in).", []string{"direction"}, nil)
	dClusterHandoverLate  = prometheus.NewDesc(ns+"_cluster_handover_late_total", "Handovers imported after their hold ended (cluster.handover_timeout): their messages follow what was delivered meanwhile.", nil, nil)
	dClusterHoldTimeouts  = prometheus.NewDesc(ns+"_cluster_handover_timeouts_total", "CONNECTs that stopped waiting for the old owner's handover at cluster.handover_timeout.", nil, nil)
	dClusterFenceTimeouts = prometheus.NewDesc(ns+"_cluster_handover_fence_timeouts_total", "Handovers sent without every live replica's fence (after half of cluster.handover_timeout): per-publisher order across the move is not guaranteed for them.", nil, nil)
	dClusterFences        = prometheus.NewDesc(ns+"_cluster_fences_total", "Fences this replica sent to other replicas' inboxes.", nil, nil)
	dClusterPassedOn      = prometheus.NewDesc(ns+"_cluster_handover_passed_on_total", "Handed over messages for a session that had moved on again, sent on to its owner as copies.", nil, nil)
)

// clusterRoutingCollector turns the router's counters into metrics at
// scrape time.
type clusterRoutingCollector struct{ r *cluster.Router }

func (c clusterRoutingCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c clusterRoutingCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Stats()
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	counter(dClusterCopies, st.Copies)
	counter(dClusterRouted, st.RoutedPublishes)
	counter(dClusterCopyErrs, st.CopyErrors)
	counter(dClusterInbox, st.Received)
	counter(dClusterForwards, st.Forwarded)
	counter(dClusterDropped, st.DroppedNoSession, "no_session")
	counter(dClusterDropped, st.DroppedHops, "hops")
	counter(dClusterDropped, st.DroppedShare, "share_no_member")
	counter(dClusterShare, st.ShareLocal, "local")
	counter(dClusterShare, st.ShareRemote, "remote")
	ch <- prometheus.MustNewConstMetric(dClusterGroups, prometheus.GaugeValue, float64(st.ShareGroups))
	counter(dClusterDelivErr, st.DeliverErrors)
	counter(dClusterHandovers, st.HandoversOut, "out")
	counter(dClusterHandovers, st.HandoversIn, "in")
	counter(dClusterHeld, st.HeldOut, "out")
	counter(dClusterHeld, st.HeldIn, "in")
	counter(dClusterHandoverLate, st.HandoversLate)
	counter(dClusterHoldTimeouts, st.HoldTimeouts)
	counter(dClusterFenceTimeouts, st.FenceTimeouts)
	counter(dClusterFences, st.FencesSent)
	counter(dClusterPassedOn, st.HeldPassedOn)
	for replica, n := range st.Sessions {
		ch <- prometheus.MustNewConstMetric(dClusterRoutes, prometheus.GaugeValue, float64(n), replica)
	}
}
