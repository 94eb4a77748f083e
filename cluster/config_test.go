package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if c.Enabled {
		t.Fatal("DefaultConfig().Enabled = true; want false (off by default)")
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v; want nil", err)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"replica id chars", func(c *Config) { c.ReplicaID = "a/b" }, "cluster.replica_id"},
		{"replica id long", func(c *Config) { c.ReplicaID = strings.Repeat("a", 65) }, "cluster.replica_id"},
		{"prefix empty", func(c *Config) { c.TopicPrefix = "" }, "cluster.topic_prefix"},
		{"prefix chars", func(c *Config) { c.TopicPrefix = "x y" }, "cluster.topic_prefix"},
		{"partitions", func(c *Config) { c.Partitions = 0 }, "cluster.partitions"},
		{"inbox partitions", func(c *Config) { c.InboxPartitions = 0 }, "cluster.inbox_partitions"},
		{"rf", func(c *Config) { c.ReplicationFactor = 0 }, "cluster.replication_factor"},
		{"lag", func(c *Config) { c.MinCompactionLag = -time.Second }, "cluster.min_compaction_lag"},
		{"retention", func(c *Config) { c.InboxRetention = time.Second }, "cluster.inbox_retention"},
		{"heartbeat", func(c *Config) { c.HeartbeatInterval = 0 }, "cluster.heartbeat_interval"},
		{"timeout", func(c *Config) { c.ReplicaTimeout = 5 * time.Second }, "cluster.replica_timeout"},
		{"claim", func(c *Config) { c.ClaimTimeout = 0 }, "cluster.claim_timeout"},
		{"copy", func(c *Config) { c.CopyTimeout = 0 }, "cluster.copy_timeout"},
		{"advertise admin no port", func(c *Config) { c.AdvertiseAdmin = "10.0.0.1" }, "cluster.advertise_admin"},
		{"advertise admin no host", func(c *Config) { c.AdvertiseAdmin = ":8080" }, "cluster.advertise_admin"},
		{"advertise admin port", func(c *Config) { c.AdvertiseAdmin = "h:70000" }, "cluster.advertise_admin"},
		{"advertise mqtt control", func(c *Config) { c.AdvertiseMQTT = "mqtt://h:1883\n" }, "cluster.advertise_mqtt"},
		{"advertise mqtt long", func(c *Config) { c.AdvertiseMQTT = strings.Repeat("a", 1025) }, "cluster.advertise_mqtt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v; want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestResolvedReplicaID(t *testing.T) {
	c := DefaultConfig()
	c.ReplicaID = "r1"
	if id, err := c.ResolvedReplicaID(); err != nil || id != "r1" {
		t.Fatalf("ResolvedReplicaID() = %q, %v; want r1", id, err)
	}
	c.ReplicaID = ""
	if id, err := c.ResolvedReplicaID(); err != nil || id == "" {
		t.Fatalf("ResolvedReplicaID() with hostname = %q, %v; want the hostname", id, err)
	}
}
