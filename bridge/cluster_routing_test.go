package bridge

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/cluster"
)

// TestClusterRoutingMetrics: the router's counters are exported under
// mqtt_bridge_cluster_*, the copies counter among them.
func TestClusterRoutingMetrics(t *testing.T) {
	cfg := cluster.DefaultConfig()
	cfg.Enabled, cfg.ReplicaID = true, "r1"
	node, err := cluster.New(cfg, []string{"127.0.0.1:1"}, sarama.NewConfig(), t.TempDir(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(clusterRoutingCollector{cluster.NewRouter(node, nil)})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range fams {
		got[f.GetName()] = true
	}
	for _, name := range []string{"mqtt_bridge_cluster_copies_total", "mqtt_bridge_cluster_routed_publishes_total",
		"mqtt_bridge_cluster_copy_errors_total", "mqtt_bridge_cluster_inbox_copies_total", "mqtt_bridge_cluster_forwards_total",
		"mqtt_bridge_cluster_inbox_dropped_total", "mqtt_bridge_cluster_inbox_store_errors_total",
		"mqtt_bridge_cluster_share_picks_total", "mqtt_bridge_cluster_route_share_groups"} {
		if !got[name] {
			t.Errorf("metric %s not exported (got %v)", name, got)
		}
	}
}
