package cluster

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/goleak"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

func TestMain(m *testing.M) {
	// go-metrics (used by sarama) starts one process-wide meter ticker and
	// never stops it; sarama's circuit breaker timer ends by itself (see
	// kafka/main_test.go).
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		goleak.IgnoreAnyFunction("github.com/eapache/go-resiliency/breaker.(*Breaker).timer"))
}

var prefixSeq atomic.Int64

// testPrefix is a topic prefix unique to this test and run, so tests never
// read each other's records nor data left by earlier runs.
func testPrefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("test-cluster.%d-%d.%s.", time.Now().UnixNano(), prefixSeq.Add(1), name)
}

// testConfig is a cluster config for the shared test Kafka with a unique
// prefix and short timings.
func testConfig(t testing.TB, replicaID string) Config {
	c := DefaultConfig()
	c.Enabled = true
	c.ReplicaID = replicaID
	c.TopicPrefix = testPrefix(t)
	c.Partitions = 4
	c.ReplicationFactor = 1
	c.HeartbeatInterval = 100 * time.Millisecond
	c.ReplicaTimeout = time.Second
	prefix := c.TopicPrefix
	t.Cleanup(func() { deleteTopics(t, prefix) })
	return c
}

// deleteTopics removes a test's topics from the shared Kafka.
func deleteTopics(t testing.TB, prefix string) {
	admin, err := sarama.NewClusterAdmin([]string{testenv.Kafka(t)}, saramaTestConfig())
	if err != nil {
		return
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return
	}
	for name := range topics {
		if strings.HasPrefix(name, prefix) {
			_ = admin.DeleteTopic(name)
		}
	}
}

func testAdmin(t testing.TB) (sarama.ClusterAdmin, string) {
	t.Helper()
	bootstrap := testenv.Kafka(t)
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, saramaTestConfig())
	if err != nil {
		t.Fatalf("cluster admin: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return admin, bootstrap
}

func saramaTestConfig() *sarama.Config {
	sc := sarama.NewConfig()
	sc.Version = sarama.DefaultVersion
	return sc
}

const defaultWait = 30 * time.Second

// waitFor is the kit's WaitFor (one poll policy for the module).
var waitFor = testkit.WaitFor
