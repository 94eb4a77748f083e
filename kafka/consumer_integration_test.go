package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// handlerFunc adapts a function to Handler.
type handlerFunc func(ctx context.Context, m *Message, done func(error))

func (f handlerFunc) Handle(ctx context.Context, m *Message, done func(error)) { f(ctx, m, done) }

func produceN(t *testing.T, bootstrap, topic string, n int) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	sp, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		t.Fatalf("sync producer: %v", err)
	}
	defer sp.Close()
	for i := range n {
		_, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0,
			Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(fmt.Sprint(i)),
			Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte("v")}}})
		if err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
	}
}

func committed(t *testing.T, bootstrap, group, topic string) int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, sarama.NewConfig())
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	res, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0}})
	if err != nil {
		t.Fatalf("ListConsumerGroupOffsets: %v", err)
	}
	if b := res.GetBlock(topic, 0); b != nil {
		return b.Offset
	}
	return -1
}

func startConsumer(t *testing.T, cfg Config, topic string, h Handler) (*Consumer, func()) {
	t.Helper()
	c, err := NewConsumer(cfg, []string{topic}, h, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	return c, func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Consumer.Run() = %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("Consumer.Run did not return after cancel")
		}
	}
}

// Offsets move only over records the handler confirmed; a restarted
// consumer gets the unconfirmed ones again; a failed record is re-handed.
func TestConsumerIntegrationCommitsConfirmedPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Kafka (skipped in -short mode)")
	}
	bootstrap := testenv.Kafka(t)
	topic := uniqueTopic("it-consume")
	testenv.CreateTopic(t, bootstrap, topic, 1)
	produceN(t, bootstrap, topic, 10)

	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{bootstrap}
	cfg.Consumer.GroupID = topic + "-group"
	cfg.Consumer.AutoOffsetReset = OffsetEarliest
	cfg.Consumer.CommitIntervalMs = 100
	cfg.Consumer.DrainTimeoutMs = 300

	// Run 1: confirm everything except offset 5, which is never confirmed.
	var (
		mu   sync.Mutex
		seen []int64
	)
	c, stop := startConsumer(t, cfg, topic, handlerFunc(func(_ context.Context, m *Message, done func(error)) {
		mu.Lock()
		seen = append(seen, m.Offset)
		mu.Unlock()
		if len(m.Headers) != 1 || m.Headers[0].Key != "h" {
			t.Errorf("headers %v; want h=v", m.Headers)
		}
		if m.Offset != 5 {
			go done(nil) // from another goroutine, as a real sink would
		}
	}))
	waitFor(t, 60*time.Second, "10 records handled", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 10 })
	waitFor(t, 20*time.Second, "offset 5 committed", func() bool { return committed(t, bootstrap, cfg.Consumer.GroupID, topic) == 5 })
	waitFor(t, 10*time.Second, "lag 5", func() bool { return c.Lag() == 5 })
	stop()
	if got := committed(t, bootstrap, cfg.Consumer.GroupID, topic); got != 5 {
		t.Fatalf("committed after stop = %d; want 5 (offset 5 never confirmed)", got)
	}

	// Run 2: offsets 5.. come again; offset 5 fails once, then succeeds.
	var (
		seen2  []int64
		failed bool
	)
	_, stop = startConsumer(t, cfg, topic, handlerFunc(func(_ context.Context, m *Message, done func(error)) {
		mu.Lock()
		seen2 = append(seen2, m.Offset)
		first := m.Offset == 5 && !failed
		failed = failed || first
		mu.Unlock()
		if first {
			done(errors.New("device offline"))
			return
		}
		done(nil)
	}))
	defer stop()
	waitFor(t, 30*time.Second, "offset 10 committed", func() bool { return committed(t, bootstrap, cfg.Consumer.GroupID, topic) == 10 })
	mu.Lock()
	defer mu.Unlock()
	if len(seen2) == 0 || seen2[0] != 5 {
		t.Fatalf("run 2 started at %v; want offset 5 first", seen2)
	}
	want := []int64{5, 6, 7, 8, 9, 5}
	if fmt.Sprint(seen2) != fmt.Sprint(want) {
		t.Errorf("run 2 handled %v; want %v (5 re-handed after its failure)", seen2, want)
	}
}

// A second member joining takes over a partition and gets its unconfirmed
// records again, from the committed prefix on.
func TestConsumerIntegrationRebalanceRedelivers(t *testing.T) {
	testRebalanceRedelivers(t, "")
}

// The same with cooperative-sticky (cluster mode's default): the
// partition B takes is revoked from A alone, A's claim drains and marks
// its confirmed prefix, and sarama commits it before B reads.
func TestConsumerIntegrationCooperativeRebalanceRedelivers(t *testing.T) {
	testRebalanceRedelivers(t, AssignorCooperativeSticky)
}

func testRebalanceRedelivers(t *testing.T, strategy string) {
	if testing.Short() {
		t.Skip("integration test: needs Kafka (skipped in -short mode)")
	}
	bootstrap := testenv.Kafka(t)
	topic := uniqueTopic("it-rebalance")
	testenv.CreateTopic(t, bootstrap, topic, 2)
	pcfg := sarama.NewConfig()
	pcfg.Producer.Return.Successes = true
	pcfg.Producer.Partitioner = sarama.NewManualPartitioner
	sp, err := sarama.NewSyncProducer([]string{bootstrap}, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: int32(i % 2), Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	sp.Close()

	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{bootstrap}
	cfg.Consumer.GroupID = topic + "-group"
	cfg.Consumer.AutoOffsetReset = OffsetEarliest
	cfg.Consumer.CommitIntervalMs = 100
	cfg.Consumer.DrainTimeoutMs = 300
	cfg.Consumer.PartitionAssignmentStrategy = strategy

	type po struct {
		p int32
		o int64
	}
	var (
		mu    sync.Mutex
		seenA = map[po]int{}
		seenB []po
	)
	_, stopA := startConsumer(t, cfg, topic, handlerFunc(func(_ context.Context, m *Message, done func(error)) {
		mu.Lock()
		seenA[po{m.Partition, m.Offset}]++
		mu.Unlock()
		if m.Offset != 2 { // offset 2 of each partition is never confirmed by A
			done(nil)
		}
	}))
	defer stopA()
	waitFor(t, 60*time.Second, "A handled all 10", func() bool { mu.Lock(); defer mu.Unlock(); return len(seenA) == 10 })
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	offsets := func() (int64, int64) {
		res, err := admin.ListConsumerGroupOffsets(cfg.Consumer.GroupID, map[string][]int32{topic: {0, 1}})
		if err != nil {
			return -1, -1
		}
		return res.GetBlock(topic, 0).Offset, res.GetBlock(topic, 1).Offset
	}
	waitFor(t, 20*time.Second, "offsets 2/2 committed", func() bool { a, b := offsets(); return a == 2 && b == 2 })

	_, stopB := startConsumer(t, cfg, topic, handlerFunc(func(_ context.Context, m *Message, done func(error)) {
		mu.Lock()
		seenB = append(seenB, po{m.Partition, m.Offset})
		mu.Unlock()
		done(nil)
	}))
	defer stopB()
	waitFor(t, 60*time.Second, "B took over a partition and got 3 records", func() bool { mu.Lock(); defer mu.Unlock(); return len(seenB) >= 3 })
	mu.Lock()
	p := seenB[0].p
	got := fmt.Sprint(seenB[:3])
	mu.Unlock()
	if want := fmt.Sprint([]po{{p, 2}, {p, 3}, {p, 4}}); got != want {
		t.Errorf("B received %s; want %s (redelivery from the committed prefix)", got, want)
	}
	waitFor(t, 20*time.Second, "B's partition committed to 5", func() bool {
		a, b := offsets()
		return (p == 0 && a == 5) || (p == 1 && b == 5)
	})
}
