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

// TestConsumerKafkaConfigClusterDefaults: in cluster mode the downlink
// consumer is a static member named by the replica id and assigns with
// cooperative-sticky, unless the keys say otherwise; off, both stay
// empty (a dynamic member, range). The keys load from --set.
func TestConsumerKafkaConfigClusterDefaults(t *testing.T) {
	tests := []struct {
		name         string
		sets         []string
		instance     string
		strategy     string
		wantInstance string
		wantStrategy string
	}{
		{"off", nil, "", "", "", ""},
		{"cluster", []string{"cluster.enabled=true", "cluster.replica_id=r7"}, "", "", "r7", "cooperative-sticky"},
		{"cluster, keys set", []string{"cluster.enabled=true", "cluster.replica_id=r7",
			"kafka.consumer.group_instance_id=pod-7", "kafka.consumer.partition_assignment_strategy=sticky"}, "pod-7", "sticky", "pod-7", "sticky"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("", nil, tt.sets)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Kafka.Consumer.GroupInstanceID != tt.instance || c.Kafka.Consumer.PartitionAssignmentStrategy != tt.strategy {
				t.Fatalf("loaded group_instance_id %q, partition_assignment_strategy %q; want %q, %q",
					c.Kafka.Consumer.GroupInstanceID, c.Kafka.Consumer.PartitionAssignmentStrategy, tt.instance, tt.strategy)
			}
			k, err := consumerKafkaConfig(c)
			if err != nil {
				t.Fatalf("consumerKafkaConfig: %v", err)
			}
			if k.Consumer.GroupInstanceID != tt.wantInstance || k.Consumer.PartitionAssignmentStrategy != tt.wantStrategy {
				t.Errorf("consumer group_instance_id %q, partition_assignment_strategy %q; want %q, %q",
					k.Consumer.GroupInstanceID, k.Consumer.PartitionAssignmentStrategy, tt.wantInstance, tt.wantStrategy)
			}
		})
	}
}
