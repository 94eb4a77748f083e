package bridge

import (
	"strings"
	"testing"
)

// TestClusterConfig: cluster mode is off by default, its keys are validated
// with the section's name, and it needs a data directory.
func TestClusterConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Cluster.Enabled {
		t.Fatal("DefaultConfig().Cluster.Enabled = true; want off by default")
	}
	c.Cluster.Enabled = true
	c.MQTT.DataDir = ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cluster.enabled: needs mqtt.data_dir") {
		t.Fatalf("Validate() with cluster on and no data dir = %v; want cluster.enabled: needs mqtt.data_dir", err)
	}
	c.MQTT.DataDir = t.TempDir()
	c.Cluster.Partitions = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cluster.partitions") {
		t.Fatalf("Validate() with partitions 0 = %v; want an error naming cluster.partitions", err)
	}
}

// TestClusterConfigLoad: the keys are reachable from the file, the
// environment and --set.
func TestClusterConfigLoad(t *testing.T) {
	c, err := Load("", []string{"BRIDGE_CLUSTER_REPLICA_ID=r7"}, []string{"cluster.enabled=true", "cluster.partitions=4"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !c.Cluster.Enabled || c.Cluster.ReplicaID != "r7" || c.Cluster.Partitions != 4 {
		t.Fatalf("Load: cluster = %+v; want enabled, replica_id r7, partitions 4", c.Cluster)
	}
}
