package kafka

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// Three producers against the real Kafka, on a topic of 6 partitions: every
// record lands on the partition murmur2 gives its key (the feeder picks it,
// sarama's manual partitioner sends it there), each key keeps its order,
// nothing is duplicated, and every partition got records. A record for an
// invalid topic fails with invalid_topic as with one producer.
func TestProducerIntegrationShardedKeyedOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Kafka (skipped in -short mode)")
	}
	bootstrap := testenv.Kafka(t)
	topic := uniqueTopic("it-sharded")
	const parts = 6
	testenv.CreateTopic(t, bootstrap, topic, parts)

	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{bootstrap}
	cfg.Producer.Producers = 3
	cfg.Producer.BufferRecords = 500
	p, stop := startProducer(t, cfg)
	const keys, perKey = 30, 200
	l := newLedger()
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() { // one publisher per key, as one device per connection
			key := fmt.Sprintf("dev-%d", k)
			for seq := range perKey {
				id := fmt.Sprintf("%s:%d", key, seq)
				r := &Record{Topic: topic, Key: []byte(key), Value: []byte(id),
					Headers: []Header{{Key: "seq", Value: []byte(strconv.Itoa(seq))}}, Done: l.done(id)}
				if err := p.Produce(context.Background(), r); err != nil {
					t.Errorf("Produce: %v", err)
					return
				}
			}
		})
	}
	bad := make(chan error, 1)
	if err := p.Produce(context.Background(), &Record{Topic: "bad topic name!", Value: []byte("x"), Done: func(err error) { bad <- err }}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	waitFor(t, 60*time.Second, "all records completed", func() bool {
		a, f := l.counts()
		return a+f == keys*perKey
	})
	select {
	case err := <-bad:
		if ErrorKind(err) != KindInvalidTopic {
			t.Errorf("invalid topic: Done(%v) kind %s; want %s", err, ErrorKind(err), KindInvalidTopic)
		}
	case <-time.After(30 * time.Second):
		t.Error("invalid topic: no Done within 30s")
	}
	stop()
	if _, f := l.counts(); f != 0 {
		t.Fatalf("%d records failed: %v", f, l.failed)
	}
	msgs := testenv.Consume(t, bootstrap, topic, keys*perKey, 30*time.Second)
	if dups := checkLog(t, msgs, l, parts); dups != 0 {
		t.Errorf("%d duplicates without any fault; want 0", dups)
	}
	per := map[int32]int{}
	for _, m := range msgs {
		per[m.Partition]++
	}
	if len(per) != parts {
		t.Errorf("records per partition %v; want all %d partitions used", per, parts)
	}
	if st := p.Stats(); st.Produced != keys*perKey {
		t.Errorf("Stats().Produced = %d; want %d", st.Produced, keys*perKey)
	}
}
