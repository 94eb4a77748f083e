package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// BenchmarkRetainedCatchUp measures how long a replica takes to become
// ready with retainedCatchUpTopics retained messages in the log: cold (an
// empty cache: the whole topic is read) and warm (a restart on the cache:
// only the delta, here none). One measurement per run; b.N is ignored.
//
//	go test -run '^$' -bench BenchmarkRetainedCatchUp -benchtime 1x ./cluster/
func BenchmarkRetainedCatchUp(b *testing.B) {
	const retainedCatchUpTopics = 20000
	_, bootstrap := testAdmin(b)
	cfg := testConfig(b, "bench")
	cfg.HeartbeatInterval = 50 * time.Millisecond // the id check waits 2 of them
	cfg.ReplicaTimeout = time.Second
	seed := startRetainedNode(b, cfg, bootstrap, b.TempDir())
	client := testClient(b, bootstrap)
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	payload := make([]byte, 100)
	var batch []*sarama.ProducerMessage
	for i := 0; i < retainedCatchUpTopics; i++ {
		topic := fmt.Sprintf("devices/%d/state", i)
		v := encodeRetained(&mqttfront.Message{QoS: 1, Payload: payload, ReceivedAt: time.Now()})
		batch = append(batch, &sarama.ProducerMessage{Topic: cfg.retainedTopic(), Partition: kafka.Partition([]byte(topic), int32(cfg.Partitions)),
			Key: sarama.StringEncoder(topic), Value: sarama.ByteEncoder(v)})
		if len(batch) == 1000 {
			if err := prod.SendMessages(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	seed.stop()

	dir := b.TempDir()
	b.ResetTimer()
	start := time.Now()
	cold := startRetainedNode(b, cfg, bootstrap, dir)
	coldTook := time.Since(start)
	if n := cold.target.len(); n != retainedCatchUpTopics {
		b.Fatalf("cold start applied %d retained topics; want %d", n, retainedCatchUpTopics)
	}
	cold.stop()
	start = time.Now()
	warm := startRetainedNode(b, cfg, bootstrap, dir)
	warmTook := time.Since(start)
	if n := warm.target.len(); n != retainedCatchUpTopics {
		b.Fatalf("warm start restored %d retained topics; want %d", n, retainedCatchUpTopics)
	}
	warm.stop()
	b.StopTimer()
	b.ReportMetric(coldTook.Seconds(), "cold-s")
	b.ReportMetric(warmTook.Seconds(), "warm-s")
	b.ReportMetric(float64(retainedCatchUpTopics), "topics")
}
