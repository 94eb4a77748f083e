package benchkit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// KafkaReader reads one topic from the offsets it had when Open was called,
// decodes bench payloads and feeds the Ledger, the publish→Kafka latency
// histogram (read time minus the payload's send time) and the landed count.
type KafkaReader struct {
	readBack
	client   sarama.Client
	consumer sarama.Consumer
	topic    string
	starts   map[int32]int64
}

var _ Reader = (*KafkaReader)(nil)

// OpenKafkaReader connects and notes the newest offset of every partition of topic.
func OpenKafkaReader(bootstrap []string, topic string) (*KafkaReader, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = "mqttbench-reader"
	cfg.Consumer.Fetch.Default = 4 << 20
	cfg.Consumer.MaxWaitTime = 20 * time.Millisecond
	cfg.Consumer.Return.Errors = false
	cl, err := sarama.NewClient(bootstrap, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	parts, err := cl.Partitions(topic)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	starts := make(map[int32]int64, len(parts))
	for _, p := range parts {
		// A topic created a moment ago may have no leader yet: retry a while.
		var off int64
		for deadline := time.Now().Add(30 * time.Second); ; {
			if off, err = cl.GetOffset(topic, p, sarama.OffsetNewest); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
			_ = cl.RefreshMetadata(topic)
		}
		if err != nil {
			cl.Close()
			return nil, fmt.Errorf("offset of %s/%d: %w", topic, p, err)
		}
		starts[p] = off
	}
	co, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	return &KafkaReader{readBack: newReadBack(), client: cl, consumer: co, topic: topic, starts: starts}, nil
}

// Run consumes until ctx ends, then closes the Kafka client.
func (r *KafkaReader) Run(ctx context.Context) error {
	defer r.client.Close()
	defer r.consumer.Close()
	var wg sync.WaitGroup
	for p, off := range r.starts {
		pc, err := r.consumer.ConsumePartition(r.topic, p, off)
		if err != nil {
			return fmt.Errorf("consume %s/%d: %w", r.topic, p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-pc.Messages():
					r.handle(m.Value, time.Now())
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// KafkaSummary is what the reader measured.
type KafkaSummary struct {
	Topic        string     `json:"topic"`
	Landed       uint64     `json:"landed"`
	LandedPerSec float64    `json:"landed_per_sec"`
	Foreign      uint64     `json:"foreign_records"`
	Latency      Quantiles  `json:"publish_to_kafka_latency"`
	Accounting   Accounting `json:"accounting"`
	LossPercent  float64    `json:"loss_percent"`
}

// Summary reports, with landed/s over the measured window.
func (r *KafkaReader) Summary(window time.Duration, landedInWindow uint64) *KafkaSummary {
	a := r.Ledger.Report()
	s := &KafkaSummary{Topic: r.topic, Landed: r.Landed(), Foreign: r.foreign.Load(), Latency: r.Latency.Summary(), Accounting: a}
	if window > 0 {
		s.LandedPerSec = float64(landedInWindow) / window.Seconds()
	}
	if a.Expected > 0 {
		s.LossPercent = 100 * float64(a.Lost) / float64(a.Expected)
	}
	return s
}

func (r *KafkaReader) progressNames() (string, string) { return "landed/s", "e2e p99" }

func (r *KafkaReader) summarize(sum *Summary, window time.Duration, landedInWindow uint64) {
	sum.Kafka = r.Summary(window, landedInWindow)
}

// EnsureTopic creates topic with partitions (replication 1) unless it exists.
func EnsureTopic(bootstrap []string, topic string, partitions int32) error {
	cfg := sarama.NewConfig()
	cfg.ClientID = "mqttbench-admin"
	adm, err := sarama.NewClusterAdmin(bootstrap, cfg)
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer adm.Close()
	err = adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}
