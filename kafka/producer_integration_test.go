package kafka

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

func uniqueTopic(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// ledger remembers which (key, seq) records were confirmed by Done(nil).
type ledger struct {
	mu     sync.Mutex
	acked  map[string]bool
	failed map[string]error
}

func newLedger() *ledger { return &ledger{acked: map[string]bool{}, failed: map[string]error{}} }

func (l *ledger) done(id string) func(error) {
	return func(err error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if err != nil {
			l.failed[id] = err
		} else {
			l.acked[id] = true
		}
	}
}

func (l *ledger) counts() (acked, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked), len(l.failed)
}

// checkLog verifies that every acknowledged record is in msgs, each on
// Partition(key, parts), and that per key the first occurrences of the
// sequence numbers are strictly increasing. It returns the duplicates seen.
func checkLog(t *testing.T, msgs []*sarama.ConsumerMessage, l *ledger, parts int32) (dups int) {
	t.Helper()
	lastSeq := map[string]int{}
	seen := map[string]bool{}
	for _, m := range msgs {
		key := string(m.Key)
		if want := Partition(m.Key, parts); m.Partition != want {
			t.Errorf("key %q on partition %d; want %d (murmur2)", key, m.Partition, want)
		}
		id := string(m.Value)
		seq, err := strconv.Atoi(strings.TrimPrefix(id, key+":"))
		if err != nil {
			t.Fatalf("bad value %q", id)
		}
		if seen[id] {
			dups++
			continue
		}
		seen[id] = true
		if last, ok := lastSeq[key]; ok && seq <= last {
			t.Errorf("key %q: seq %d after %d: per-key order broken", key, seq, last)
		}
		lastSeq[key] = seq
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.acked {
		if !seen[id] {
			t.Errorf("record %s was acknowledged (Done(nil)) but is not in Kafka", id)
		}
	}
	return dups
}

func startProducer(t *testing.T, cfg Config) (*Producer, func()) {
	t.Helper()
	p, err := NewProducer(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	return p, func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Producer.Run() = %v", err)
			}
		case <-time.After(150 * time.Second):
			t.Fatal("Producer.Run did not return after cancel")
		}
	}
}

func TestProducerIntegrationKeyedOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Kafka (skipped in -short mode)")
	}
	bootstrap := testenv.Kafka(t)
	topic := uniqueTopic("it-keyed")
	testenv.CreateTopic(t, bootstrap, topic, 3)

	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{bootstrap}
	p, stop := startProducer(t, cfg)
	const keys, perKey = 12, 100
	l := newLedger()
	ctx := context.Background()
	for seq := range perKey {
		for k := range keys {
			key := fmt.Sprintf("dev-%d", k)
			id := fmt.Sprintf("%s:%d", key, seq)
			r := &Record{Topic: topic, Key: []byte(key), Value: []byte(id),
				Headers: []Header{{Key: "seq", Value: []byte(strconv.Itoa(seq))}}, Done: l.done(id)}
			if err := p.Produce(ctx, r); err != nil {
				t.Fatalf("Produce: %v", err)
			}
		}
	}
	waitFor(t, 60*time.Second, "all records completed", func() bool {
		a, f := l.counts()
		return a+f == keys*perKey
	})
	stop()
	if _, f := l.counts(); f > 0 {
		t.Fatalf("%d records failed: %v", f, l.failed)
	}
	msgs := testenv.Consume(t, bootstrap, topic, keys*perKey, 30*time.Second)
	if dups := checkLog(t, msgs, l, 3); dups != 0 {
		t.Errorf("%d duplicates without any fault; want 0", dups)
	}
	if h := msgs[0].Headers; len(h) != 1 || string(h[0].Key) != "seq" {
		t.Errorf("headers = %v; want the seq header", h)
	}
	if st := p.Stats(); st.Produced != keys*perKey {
		t.Errorf("Stats().Produced = %d; want %d", st.Produced, keys*perKey)
	}
}

func TestProducerIntegrationTooLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Kafka (skipped in -short mode)")
	}
	bootstrap := testenv.Kafka(t)
	topic := uniqueTopic("it-large")
	testenv.CreateTopic(t, bootstrap, topic, 1)
	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{bootstrap}
	cfg.Producer.MaxRequestSize = 1000
	p, stop := startProducer(t, cfg)
	defer stop()
	errc := make(chan error, 2)
	_ = p.Produce(context.Background(), &Record{Topic: topic, Value: make([]byte, 2000), Done: func(err error) { errc <- err }})
	_ = p.Produce(context.Background(), &Record{Topic: "bad topic name!", Value: []byte("x"), Done: func(err error) { errc <- err }})
	kinds := map[string]bool{}
	for range 2 {
		select {
		case err := <-errc:
			kinds[ErrorKind(err)] = true
		case <-time.After(60 * time.Second):
			t.Fatal("no Done within 60s")
		}
	}
	if !kinds[KindTooLarge] || !kinds[KindInvalidTopic] {
		t.Errorf("error kinds %v; want too_large and invalid_topic", kinds)
	}
}

// freePortPair finds a port p with p and p+1 free on 127.0.0.1.
func freePortPair(t *testing.T) int {
	t.Helper()
	return testenv.FreePortPair(t)
}

// A broker restart under load must not lose any record whose Done(nil)
// fired, nor reorder a key. Run for both ordering strategies.
func TestProducerIntegrationBrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Kafka (skipped in -short mode)")
	}
	for _, tc := range []struct {
		name       string
		idempotent bool
	}{{"idempotent", true}, {"max_open_requests_1", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Now()
			bootstrap, stopKafka, startKafka := testenv.StartOwnKafka(t, freePortPair(t))
			t.Logf("own broker up in %v", time.Since(t0).Round(time.Millisecond))
			topic := "restart"
			testenv.CreateTopic(t, bootstrap, topic, 3)
			cfg := DefaultConfig()
			cfg.BootstrapServers = []string{bootstrap}
			cfg.Producer.EnableIdempotence = tc.idempotent
			cfg.Producer.RequestTimeoutMs = 5000
			cfg.Producer.BufferRecords = 500
			p, stopProducer := startProducer(t, cfg)

			l := newLedger()
			const keys = 6
			var (
				produced  int
				seq       int
				prodMu    sync.Mutex
				prodWG    sync.WaitGroup
				stopFeed  = make(chan struct{})
				feedCtx   = context.Background()
				feedError error
			)
			prodWG.Go(func() {
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stopFeed:
						return
					case <-tick.C:
					}
					for k := range keys {
						key := fmt.Sprintf("dev-%d", k)
						id := fmt.Sprintf("%s:%d", key, seq)
						if err := p.Produce(feedCtx, &Record{Topic: topic, Key: []byte(key), Value: []byte(id), Done: l.done(id)}); err != nil {
							prodMu.Lock()
							feedError = err
							prodMu.Unlock()
							return
						}
						prodMu.Lock()
						produced++
						prodMu.Unlock()
					}
					seq++
				}
			})
			waitFor(t, 30*time.Second, "records flowing", func() bool { a, _ := l.counts(); return a > 300 })
			t1 := time.Now()
			stopKafka()
			a0, _ := l.counts()
			t.Logf("broker stopped after %d acks (stop took %v)", a0, time.Since(t1).Round(time.Millisecond))
			t1 = time.Now()
			startKafka()
			t.Logf("broker restarted in %v", time.Since(t1).Round(time.Millisecond))
			waitFor(t, 60*time.Second, "acks after the restart", func() bool { a, _ := l.counts(); return a > a0+300 })
			close(stopFeed)
			prodWG.Wait()
			prodMu.Lock()
			total, ferr := produced, feedError
			prodMu.Unlock()
			if ferr != nil {
				t.Fatalf("Produce: %v", ferr)
			}
			waitFor(t, 130*time.Second, "all records completed", func() bool { a, f := l.counts(); return a+f == total })
			t.Logf("all completed %v after the restart", time.Since(t1).Round(time.Millisecond))
			stopProducer()
			acked, failed := l.counts()
			t.Logf("%d produced, %d acked, %d failed", total, acked, failed)
			if failed > 0 {
				t.Errorf("%d records failed across a restart within the delivery timeout: %v", failed, firstErrs(l))
			}
			inKafka := testenv.ConsumeAll(t, bootstrap, topic, 60*time.Second)
			dups := checkLog(t, inKafka, l, 3)
			t.Logf("%s: %d records read back, %d duplicates", tc.name, len(inKafka), dups)
			if tc.idempotent && dups > 0 {
				t.Errorf("idempotent producer wrote %d duplicates across a restart; want 0", dups)
			}
		})
	}
}

func firstErrs(l *ledger) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for id, err := range l.failed {
		out = append(out, id+": "+err.Error())
		if len(out) == 5 {
			break
		}
	}
	return out
}

// BenchmarkProducerKafka produces 128-byte keyed records (64 keys) with the
// default config (acks=all, idempotent, lz4) to the shared test broker, on a
// topic of 6 partitions, and waits for every Done: with 1 and 3 producers
// (kafka.producer.producers), each with the default window (10,000) and with
// the devices' window of S2 (20 connections × 32 in flight: 640). cpu-ns/op
// is the test process's CPU time (user + system) per record.
func BenchmarkProducerKafka(b *testing.B) {
	if testing.Short() {
		b.Skip("needs Kafka (skipped in -short mode)")
	}
	bootstrap := testenv.Kafka(b)
	topic := uniqueTopic("bench")
	testenv.CreateTopic(b, bootstrap, topic, 6)
	for _, window := range []int{10000, 640} {
		for _, producers := range []int{1, 3} {
			b.Run(fmt.Sprintf("window=%d/producers=%d", window, producers), func(b *testing.B) {
				benchProduce(b, bootstrap, topic, producers, window)
			})
		}
	}
}

func benchProduce(b *testing.B, bootstrap, topic string, producers, window int) {
	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{bootstrap}
	cfg.Producer.Producers = producers
	cfg.Producer.BufferRecords = window
	p, err := NewProducer(cfg, zaptest.NewLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	defer func() { cancel(); <-errc }()
	waitFor(b, 30*time.Second, "connected", p.Connected)
	keys := make([][]byte, 64)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("device-%d", i))
	}
	val := make([]byte, 128)
	var wg sync.WaitGroup
	var failed atomic.Int64
	done := func(err error) {
		if err != nil {
			failed.Add(1)
		}
		wg.Done()
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(val)))
	cpu0 := processCPU()
	b.ResetTimer()
	wg.Add(b.N)
	for i := range b.N {
		if err := p.Produce(ctx, &Record{Topic: topic, Key: keys[i%len(keys)], Value: val, Done: done}); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d records failed", n)
	}
}

// processCPU is this process's user + system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProducerKafkaBurst is the shape of C2 (1,000 devices × 10/s,
// whose load generator starts them in step): one op is 100 ms in which
// 1,000 records of 256 B, one per key, are produced, either at once at its
// start (burst: devices in step) or 10 every millisecond (even: devices
// not in step); even_40k is 4,000 devices, 40 records every millisecond. It reports the Produce → Done latency p50 and p99 over all
// records, with 1 and 3 producers, on 6 partitions.
func BenchmarkProducerKafkaBurst(b *testing.B) {
	if testing.Short() {
		b.Skip("needs Kafka (skipped in -short mode)")
	}
	bootstrap := testenv.Kafka(b)
	topic := uniqueTopic("bench-burst")
	testenv.CreateTopic(b, bootstrap, topic, 6)
	for _, c := range []struct {
		shape   string
		devices int // records (and keys) per 100 ms
		every   int // records produced together, then a pause to the next slice of the 100 ms
	}{{"burst", 1000, 1000}, {"even", 1000, 10}, {"even_40k", 4000, 40}} {
		for _, producers := range []int{1, 3} {
			b.Run(fmt.Sprintf("%s/producers=%d", c.shape, producers), func(b *testing.B) {
				burstProduce(b, bootstrap, topic, producers, c.devices, c.every)
			})
		}
	}
}

func burstProduce(b *testing.B, bootstrap, topic string, producers, devices, every int) {
	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{bootstrap}
	cfg.Producer.Producers = producers
	p, err := NewProducer(cfg, zaptest.NewLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	defer func() { cancel(); <-errc }()
	waitFor(b, 30*time.Second, "connected", p.Connected)
	keys := make([][]byte, devices)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("device-%d", i))
	}
	val := make([]byte, 256)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N*devices)
	failed := 0
	var wg sync.WaitGroup
	cpu0 := processCPU()
	b.ResetTimer()
	tick := time.NewTicker(100 * time.Millisecond * time.Duration(every) / time.Duration(devices))
	defer tick.Stop()
	wg.Add(b.N * devices)
	for i := range b.N * devices {
		if i%every == 0 {
			<-tick.C
		}
		t0 := time.Now()
		r := &Record{Topic: topic, Key: keys[i%devices], Value: val, Done: func(err error) {
			d := time.Since(t0)
			mu.Lock()
			lat = append(lat, d)
			if err != nil {
				failed++
			}
			mu.Unlock()
			wg.Done()
		}}
		if err := p.Produce(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	if failed > 0 {
		b.Fatalf("%d records failed", failed)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N*devices), "cpu-ns/record")
}
