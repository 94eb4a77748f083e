package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// A static member (group_instance_id) that stops and comes back under the
// same id within the session timeout gets its partition back with no
// rebalance: the group's generation is unchanged and the other member
// never gives up or gains a partition. The records produced meanwhile are
// read by the member that comes back, none lost. Run with the cluster
// mode's assignor (cooperative-sticky) and with range.
func TestConsumerIntegrationStaticMemberRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Kafka (skipped in -short mode)")
	}
	bootstrap := testenv.Kafka(t)
	for _, strategy := range []string{AssignorCooperativeSticky, AssignorRange} {
		t.Run(strategy, func(t *testing.T) {
			topic := uniqueTopic("it-static")
			testenv.CreateTopic(t, bootstrap, topic, 2)
			cfg := DefaultConfig()
			cfg.BootstrapServers = []string{bootstrap}
			cfg.Consumer.GroupID = topic + "-group"
			cfg.Consumer.AutoOffsetReset = OffsetEarliest
			cfg.Consumer.CommitIntervalMs = 100
			cfg.Consumer.SessionTimeoutMs = 30000 // far beyond the restart
			cfg.Consumer.HeartbeatIntervalMs = 1000
			cfg.Consumer.PartitionAssignmentStrategy = strategy

			var mu sync.Mutex
			seen := map[string]int{} // value -> deliveries
			h := handlerFunc(func(_ context.Context, m *Message, done func(error)) {
				mu.Lock()
				seen[string(m.Value)]++
				mu.Unlock()
				done(nil)
			})
			member := func(id string) (*Consumer, func()) {
				c := cfg
				c.Consumer.GroupInstanceID = id
				return startConsumer(t, c, topic, h)
			}
			a, stopA := member("a")
			b, stopB := member("b")
			defer stopB()
			holdsOne := func(c *Consumer) bool { return len(c.Health().Partitions) == 1 }
			waitFor(t, 60*time.Second, "a and b hold one partition each", func() bool { return holdsOne(a) && holdsOne(b) })
			gen, bAssigned, bParts := b.Health().Generation, b.Health().Assignments, b.Health().Partitions
			t.Logf("%s: generation %d, b holds %v after %d assignments", strategy, gen, bParts, bAssigned)

			stopA()
			produceBoth(t, bootstrap, topic, 0, 20) // while a is away
			a2, stopA2 := member("a")
			defer stopA2()
			waitFor(t, 60*time.Second, "a back with one partition", func() bool { return holdsOne(a2) })
			produceBoth(t, bootstrap, topic, 20, 40)
			waitFor(t, 30*time.Second, "all 40 records read", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 40 })

			hb := b.Health()
			t.Logf("%s: after a's restart: generation %d (a sees %d), b holds %v after %d assignments",
				strategy, hb.Generation, a2.Health().Generation, hb.Partitions, hb.Assignments)
			if hb.Generation != gen || a2.Health().Generation != gen {
				t.Errorf("generation %d at b, %d at a after a's restart; want %d: a static member's restart must not rebalance the group",
					hb.Generation, a2.Health().Generation, gen)
			}
			if hb.Assignments != bAssigned || fmt.Sprint(hb.Partitions) != fmt.Sprint(bParts) {
				t.Errorf("b holds %v after %d assignments; want %v after %d (untouched by a's restart)", hb.Partitions, hb.Assignments, bParts, bAssigned)
			}
		})
	}
}

// produceBoth produces the values from..to-1 alternately to partitions 0
// and 1 of topic.
func produceBoth(t *testing.T, bootstrap, topic string, from, to int) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	sp, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		t.Fatalf("sync producer: %v", err)
	}
	defer sp.Close()
	for i := from; i < to; i++ {
		if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: int32(i % 2), Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}
}
