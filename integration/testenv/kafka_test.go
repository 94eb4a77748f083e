package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestRepoRoot(t *testing.T) {
	if _, err := os.Stat(filepath.Join(RepoRoot(), "integration", "kafka.sh")); err != nil {
		t.Fatalf("RepoRoot() = %s: no integration/kafka.sh: %v", RepoRoot(), err)
	}
}

// A round trip through the shared broker: topic creation and Consume.
func TestKafkaRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Kafka (skipped in -short mode)")
	}
	bootstrap := Kafka(t)
	topic := fmt.Sprintf("testenv-%d", time.Now().UnixNano())
	CreateTopic(t, bootstrap, topic, 2)
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	// Just after creation a partition's leader can be in the metadata
	// before the broker acts as leader (NOT_LEADER_OR_FOLLOWER on a busy
	// fresh broker, seen in CI): retry as a real producer would, for up
	// to about 10 s, instead of sarama's 3 × 100 ms.
	cfg.Producer.Retry.Max = 40
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 4 {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic,
			Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if got := Consume(t, bootstrap, topic, 4, 30*time.Second); len(got) != 4 {
		t.Fatalf("Consume returned %d records; want 4", len(got))
	}
}
