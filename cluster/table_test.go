package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"
)

// mapApplier keeps the last value per key and counts what it was given.
type mapApplier struct {
	mu       sync.Mutex
	m        map[string]string
	applied  int
	restored int
	resets   int
}

func newMapApplier() *mapApplier { return &mapApplier{m: map[string]string{}} }

func (a *mapApplier) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m = map[string]string{}
	a.resets++
}

func (a *mapApplier) restore(k, v []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[string(k)] = string(v)
	a.restored++
	return nil
}

func (a *mapApplier) apply(r *Record) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applied++
	if r.Value == nil {
		delete(a.m, string(r.Key))
		return nil, nil
	}
	a.m[string(r.Key)] = string(r.Value)
	return r.Value, nil
}

func (a *mapApplier) snapshot() (map[string]string, int, int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]string, len(a.m))
	for k, v := range a.m {
		m[k] = v
	}
	return m, a.applied, a.restored, a.resets
}

func testClient(t testing.TB, bootstrap string) sarama.Client {
	t.Helper()
	sc := saramaTestConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	client, err := sarama.NewClient([]string{bootstrap}, sc)
	if err != nil {
		t.Fatalf("sarama client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func produce(t testing.TB, p sarama.SyncProducer, topic string, partition int32, key string, value []byte) int64 {
	t.Helper()
	_, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: partition, Key: sarama.StringEncoder(key), Value: valueEncoder(value)})
	if err != nil {
		t.Fatalf("produce %s/%d: %v", topic, partition, err)
	}
	return off
}

// valueEncoder keeps a nil value nil (a tombstone).
func valueEncoder(v []byte) sarama.Encoder {
	if v == nil {
		return nil
	}
	return sarama.ByteEncoder(v)
}

// runTable runs a table until the returned stop is called.
func runTable(t testing.TB, tb *Table, client sarama.Client) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tb.Run(ctx, client) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("table Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestTableCatchUpDeltaAndTombstones(t *testing.T) {
	admin, bootstrap := testAdmin(t)
	cfg := testConfig(t, "r1")
	c := newTestCache(t)
	infos, err := ensureTopics(context.Background(), admin, c, 1, cfg.specs("r1"))
	if err != nil {
		t.Fatal(err)
	}
	topic := cfg.retainedTopic()
	client := testClient(t, bootstrap)
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := 0; i < 40; i++ {
		produce(t, prod, topic, int32(i%10%4), fmt.Sprintf("k%d", i%10), []byte(fmt.Sprintf("v%d", i)))
	}
	produce(t, prod, topic, 1, "k1", nil) // tombstone: k1 lives in partition 1 (one key, one partition)

	log := zaptest.NewLogger(t)
	ap := newMapApplier()
	tb := newTable("retained", topic, infos[topic], c, ap, log)
	stop := runTable(t, tb, client)
	select {
	case <-tb.CaughtUp():
	case <-time.After(defaultWait):
		t.Fatal("table did not catch up")
	}
	m, applied, _, _ := ap.snapshot()
	if applied != 41 || len(m) != 9 || m["k9"] != "v39" || m["k1"] != "" {
		t.Fatalf("after catch-up: %d applied, state %v; want 41 applied, 9 keys, k9=v39, no k1", applied, m)
	}
	if tb.Lag() != 0 {
		t.Fatalf("Lag() = %d after catch-up; want 0", tb.Lag())
	}
	// Read your own write.
	off := produce(t, prod, topic, 2, "k2", []byte("mine"))
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	if err := tb.WaitApplied(ctx, 2, off); err != nil {
		t.Fatalf("WaitApplied: %v", err)
	}
	if m, _, _, _ := ap.snapshot(); m["k2"] != "mine" {
		t.Fatalf("after WaitApplied: k2 = %q; want mine", m["k2"])
	}
	stop()

	// Restart: the state comes from the cache, only the delta from Kafka.
	produce(t, prod, topic, 3, "k3", []byte("delta"))
	ap2 := newMapApplier()
	tb2 := newTable("retained", topic, infos[topic], c, ap2, log)
	runTable(t, tb2, client)
	<-tb2.CaughtUp()
	m2, applied2, restored2, resets2 := ap2.snapshot()
	if applied2 != 1 || restored2 != 9 || resets2 != 0 || m2["k3"] != "delta" || m2["k2"] != "mine" || len(m2) != 9 {
		t.Fatalf("warm restart: %d applied, %d restored, %d resets, state %v; want 1 applied (the delta), 9 restored, 0 resets", applied2, restored2, resets2, m2)
	}
}

func TestTableRebuildsAfterDeleteRetention(t *testing.T) {
	admin, bootstrap := testAdmin(t)
	cfg := testConfig(t, "r1")
	c := newTestCache(t)
	infos, err := ensureTopics(context.Background(), admin, c, 1, cfg.specs("r1"))
	if err != nil {
		t.Fatal(err)
	}
	topic := cfg.sessionsTopic()
	client := testClient(t, bootstrap)
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := 0; i < 8; i++ {
		produce(t, prod, topic, int32(i%4), fmt.Sprintf("k%d", i), []byte("v"))
	}
	log := zaptest.NewLogger(t)
	tb := newTable("sessions", topic, infos[topic], c, newMapApplier(), log)
	stop := runTable(t, tb, client)
	<-tb.CaughtUp()
	stop()

	// The replica was "down" longer than delete.retention.ms (24h by
	// default): a tombstone may have been compacted away unseen.
	timeNow = func() time.Time { return time.Now().Add(infos[topic].deleteRetention + time.Hour) }
	defer func() { timeNow = time.Now }()
	ap := newMapApplier()
	tb2 := newTable("sessions", topic, infos[topic], c, ap, log)
	runTable(t, tb2, client)
	<-tb2.CaughtUp()
	m, applied, restored, resets := ap.snapshot()
	if resets != 1 || restored != 0 || applied != 8 || len(m) != 8 {
		t.Fatalf("stale checkpoint: %d resets, %d restored, %d applied, %d keys; want a rebuild: 1, 0, 8, 8", resets, restored, applied, len(m))
	}
}
