package bridge

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iotbridge/mqtt-kafka-bridge/cluster"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// Cluster mode wiring (cluster/README.md). Off (the default) none of this
// is built: b.cluster stays nil and the front end has no hook set.

var (
	_ mqttfront.Admission      = (*cluster.Node)(nil)
	_ mqttfront.RetainedStore  = (*cluster.Retained)(nil)
	_ mqttfront.SessionClaimer = (*cluster.Sessions)(nil)
	_ cluster.Superseder       = (*mqttfront.Server)(nil)
)

// newCluster builds the cluster node when cluster.enabled and plugs its
// hooks into the front end (before anything runs).
func (b *Bridge) newCluster() error {
	if !b.cfg.Cluster.Enabled {
		return nil
	}
	sc, err := b.cfg.Kafka.SaramaConfig()
	if err != nil {
		return fmt.Errorf("cluster: kafka settings: %w", err)
	}
	node, err := cluster.New(b.cfg.Cluster, b.cfg.Kafka.BootstrapServers, sc, b.cfg.MQTT.DataDir, b.log.Named("cluster"))
	if err != nil {
		return err // names the key (cluster.<key>)
	}
	b.cluster = node
	// Hooks of the front end, each one a nil interface when clustering is
	// off.
	b.front.SetAdmission(node)
	b.front.SetSessionClaimer(cluster.NewSessions(node, b.front))
	node.Retained().Attach(b.front)
	b.front.SetRetainedStore(node.Retained())
	router := cluster.NewRouter(node, b.front)
	b.front.SetRemoteRouter(router.WithTimeout()) // copies bounded by cluster.copy_timeout
	b.readBarrier = router.Synced
	b.metrics.reg.MustRegister(clusterCollector{node}, clusterRoutingCollector{router}, clusterOpsCollector{node})
	node.Advertise(b.advertised) // clusterview.go
	b.attachJanitor(node)
	return nil
}

// Cluster is this replica's cluster node, nil when cluster mode is off.
func (b *Bridge) Cluster() *cluster.Node { return b.cluster }

// runCluster starts the node, if any, and returns the channel its Run's
// result arrives on (nil without clustering: a select never picks it).
func (b *Bridge) runCluster(ctx context.Context) chan error {
	if b.cluster == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- b.cluster.Run(ctx) }()
	return done
}

// waitClusterReady returns true once the node caught up (at once without
// clustering), false if ctx ends first.
func (b *Bridge) waitClusterReady(ctx context.Context) bool {
	if b.cluster == nil {
		return true
	}
	select {
	case <-b.cluster.Ready():
		return true
	case <-ctx.Done():
		return false
	}
}

// clusterReadiness is the cluster's part of /readyz: its state, and why
// it is not ready ("" when it is, or without clustering).
func (b *Bridge) clusterReadiness() (state, reason string) {
	if b.cluster == nil {
		return "", ""
	}
	return b.cluster.State().String(), b.cluster.NotReadyReason()
}

var (
	dClusterState     = prometheus.NewDesc(ns+"_cluster_state", "1 for the cluster node's current state: new, starting, checking_replica_id, catching_up, ready, stopped.", []string{"state"}, nil)
	dClusterReady     = prometheus.NewDesc(ns+"_cluster_ready", "1 once this replica caught up with the high-water marks seen at start (until then CONNECT is refused, v5 0x88 / v3 0x03).", nil, nil)
	dClusterTableLag  = prometheus.NewDesc(ns+"_cluster_table_lag_records", "Records of an internal table not yet applied, up to its partitions' high-water marks.", []string{"table"}, nil)
	dClusterTableRecs = prometheus.NewDesc(ns+"_cluster_table_records_applied_total", "Records applied from an internal table's topic since start.", []string{"table"}, nil)
	dClusterRetained  = prometheus.NewDesc(ns+"_cluster_retained_applied_total", "Retained records applied to this replica's retained messages (from the cache at start and the log), by op: set, clear.", []string{"op"}, nil)
	dClusterRetProd   = prometheus.NewDesc(ns+"_cluster_retained_produced_total", "Retained sets and clears this replica produced to the retained topic, by result: ok (acked by Kafka), error.", []string{"result"}, nil)
	dClusterLive      = prometheus.NewDesc(ns+"_cluster_live_replicas", "Replicas with a recent heartbeat, this one included.", nil, nil)
	dClusterConflicts = prometheus.NewDesc(ns+"_cluster_replica_id_conflicts_total", "Heartbeats of another live replica using this replica's id, seen while running.", nil, nil)
)

// clusterCollector turns the node's stats into metrics at scrape time.
type clusterCollector struct{ node *cluster.Node }

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.node.Stats()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	for _, s := range cluster.States() {
		v := 0.0
		if s == st.State {
			v = 1
		}
		gauge(dClusterState, v, s.String())
	}
	ready := 0.0
	if st.State == cluster.StateReady {
		ready = 1
	}
	gauge(dClusterReady, ready)
	for _, t := range st.Tables {
		gauge(dClusterTableLag, float64(t.Behind), t.Name)
		counter(dClusterTableRecs, float64(t.Records), t.Name)
	}
	counter(dClusterRetained, float64(st.Retained.Sets), "set")
	counter(dClusterRetained, float64(st.Retained.Clears), "clear")
	counter(dClusterRetProd, float64(st.Retained.Produced), "ok")
	counter(dClusterRetProd, float64(st.Retained.Failed), "error")
	gauge(dClusterLive, float64(st.LiveReplicas))
	counter(dClusterConflicts, float64(st.ReplicaIDConflicts))
}

// consumerKafkaConfig is cfg.Kafka for the downlink consumer. In cluster
// mode an empty kafka.consumer.group_instance_id becomes the replica id
// (static membership: a rolling restart gives each replica its partitions
// back without a rebalance) and an empty
// kafka.consumer.partition_assignment_strategy cooperative-sticky (a
// rebalance moves only the partitions that change owner). See
// cluster/README.md "Rolling restart".
func consumerKafkaConfig(cfg Config) (kafka.Config, error) {
	k := cfg.Kafka
	if !cfg.Cluster.Enabled {
		return k, nil
	}
	if k.Consumer.GroupInstanceID == "" {
		id, err := cfg.Cluster.ResolvedReplicaID()
		if err != nil {
			return k, err
		}
		k.Consumer.GroupInstanceID = id
	}
	if k.Consumer.PartitionAssignmentStrategy == "" {
		k.Consumer.PartitionAssignmentStrategy = kafka.AssignorCooperativeSticky
	}
	return k, nil
}
