package kafka

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"
)

// fakeShards is a Kafka reached through several producers: one fake per
// producer (kafka.producer.producers), opened in turn, each with its own
// mode, so that one producer's broker can hang or fail while the others
// answer.
type fakeShards struct {
	fs   []*fakeKafka
	next atomic.Int32 // the fake the next successful open gets
}

func newFakeShards(n int) *fakeShards {
	c := &fakeShards{}
	for range n {
		c.fs = append(c.fs, newFakeKafka(kafkaUp))
	}
	return c
}

func (c *fakeShards) factory() asyncFactory {
	return func(cfg *sarama.Config) (sarama.AsyncProducer, func() error, error) {
		i := int(c.next.Load()) % len(c.fs)
		ap, closeClient, err := c.fs[i].factory()(cfg)
		if err == nil {
			c.next.Add(1)
		}
		return ap, closeClient, err
	}
}

func (c *fakeShards) check() error {
	for _, f := range c.fs {
		if err := f.check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *fakeShards) has(id string) bool {
	for _, f := range c.fs {
		if f.has(id) {
			return true
		}
	}
	return false
}

// logs returns every fake's log, one after the other. A key reaches one
// producer only, so its records keep their order in the concatenation
// exactly when they kept it on their producer.
func (c *fakeShards) logs() []string {
	var all []string
	for _, f := range c.fs {
		all = append(all, f.logCopy()...)
	}
	return all
}

// checkOwnership checks that every record reached Kafka through the
// producer that owns its partition (p % producers), on the partition the
// partitioner gives its key ("key:seq" values), so that a partition has one
// producer.
func (c *fakeShards) checkOwnership(t *testing.T) {
	t.Helper()
	owner := map[int32]int{}
	for i, f := range c.fs {
		f.mu.Lock()
		for _, id := range f.log {
			p := f.part[id]
			if o, ok := owner[p]; ok && o != i {
				t.Errorf("partition %d reached Kafka through producers %d and %d; want one", p, o, i)
			}
			owner[p] = i
			if int(p)%len(c.fs) != i {
				t.Errorf("record %s on partition %d went through producer %d; want %d", id, p, i, int(p)%len(c.fs))
			}
			if key, _, _ := strings.Cut(id, ":"); key != "" && !strings.HasPrefix(key, "nokey") {
				if want := Partition([]byte(key), fakePartitions); p != want {
					t.Errorf("record %s on partition %d; want %d (murmur2 of its key)", id, p, want)
				}
			}
		}
		f.mu.Unlock()
	}
}

// keysOn returns n keys whose partition belongs to producer i of n.
func keysOn(i, producers, n int) []string {
	var keys []string
	for k := 0; len(keys) < n; k++ {
		key := fmt.Sprintf("d%d", k)
		if int(Partition([]byte(key), fakePartitions))%producers == i {
			keys = append(keys, key)
		}
	}
	return keys
}

func newSharded(t *testing.T, cfg Config, c *fakeShards) *Producer {
	t.Helper()
	cfg.Producer.Producers = len(c.fs)
	p, err := NewProducer(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	p.w.open = c.factory()
	if cfg.Spool.Enabled {
		p.spill().check = c.check
	}
	return p
}

// Three producers: every record goes through the producer that owns its
// partition, keyed records on the partition murmur2 gives their key, and
// keyless ones spread over the partitions; per-key order holds.
func TestShardedPartitionsHaveOneProducer(t *testing.T) {
	c := newFakeShards(3)
	cfg := DefaultConfig()
	cfg.Producer.BufferRecords = 64
	p := newSharded(t, cfg, c)
	b := newBook(t, c, p)
	stop := runProducer(t, p)

	const keys, perKey = 24, 40
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() {
			for range perKey {
				r, _ := b.record(fmt.Sprintf("d%d", k), AckKafka, false)
				if err := p.Produce(context.Background(), r); err != nil {
					t.Errorf("Produce: %v", err)
					return
				}
			}
		})
	}
	parts := map[int32]bool{}
	for i := range 60 { // no order among keyless records: one "key" each in the book
		r, _ := b.record(fmt.Sprintf("nokey%d", i), AckKafka, false)
		r.Key = nil
		if err := p.Produce(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	const total = keys*perKey + 60
	waitFor(t, 10*time.Second, "every record acked", func() bool { a, f := b.counts(); return a+f == total })
	stop()
	if a, f := b.counts(); f != 0 || a != total {
		t.Fatalf("%d acked, %d failed (%v); want %d acked", a, f, errsOf(b.failed), total)
	}
	b.verify(c.logs())
	c.checkOwnership(t)
	used := 0
	for _, f := range c.fs {
		f.mu.Lock()
		if len(f.log) > 0 {
			used++
		}
		for id, pt := range f.part {
			if strings.HasPrefix(id, "nokey") {
				parts[pt] = true
			}
		}
		f.mu.Unlock()
	}
	if used != 3 || len(parts) < 3 {
		t.Errorf("%d producers used, keyless records on %d partitions; want 3 and at least 3", used, len(parts))
	}
	if st := p.Stats(); st.Produced != total || st.InFlight != 0 {
		t.Errorf("Stats() Produced = %d, InFlight = %d; want %d, 0", st.Produced, st.InFlight, total)
	}
}

// A record whose topic does not exist fails with invalid_topic, as sarama
// hands it back with one producer; the others are delivered.
func TestShardedUnknownTopicFails(t *testing.T) {
	c := newFakeShards(3)
	p := newSharded(t, DefaultConfig(), c)
	stop := runProducer(t, p)
	defer stop()
	errc := make(chan error, 2)
	for _, topic := range []string{"missing", "t"} {
		r := &Record{Topic: topic, Key: []byte("k"), Value: []byte(topic + ":0"), Done: func(err error) { errc <- err }}
		if err := p.Produce(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	var kinds []string
	for range 2 {
		select {
		case err := <-errc:
			kinds = append(kinds, ErrorKind(err))
		case <-time.After(10 * time.Second):
			t.Fatal("no Done within 10s")
		}
	}
	if !c.has("t:0") || !(kinds[0] == KindInvalidTopic || kinds[1] == KindInvalidTopic) {
		t.Errorf("kinds %v, delivered %v; want invalid_topic for the missing topic and the other delivered", kinds, c.has("t:0"))
	}
}

// The window bounds the records of all producers together: with one
// producer's broker hung, its records fill the window, Produce blocks, and
// no more than buffer_records are ever in flight. When the broker answers
// again, everything is delivered in order.
func TestShardedWindowBoundAcrossProducers(t *testing.T) {
	c := newFakeShards(3)
	c.fs[1].setMode(kafkaHang)
	cfg := DefaultConfig()
	cfg.Producer.BufferRecords = 30
	p := newSharded(t, cfg, c)
	b := newBook(t, c, p)
	stop := runProducer(t, p)
	defer stop()

	var keys []string
	for i := range 3 {
		keys = append(keys, keysOn(i, 3, 2)...)
	}
	const total = 300
	var maxInFlight atomic.Int64
	watch := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			if n := int64(p.Stats().InFlight); n > maxInFlight.Load() {
				maxInFlight.Store(n)
			}
			select {
			case <-watch:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	var producer sync.WaitGroup
	producer.Go(func() {
		for i := range total {
			r, _ := b.record(keys[i%len(keys)], AckKafka, false)
			if err := p.Produce(context.Background(), r); err != nil {
				t.Errorf("Produce: %v", err)
				return
			}
		}
	})
	waitFor(t, 5*time.Second, "Produce blocked on a window full of the hung producer's records", func() bool {
		st := p.Stats()
		return st.Waiting == 1 && st.InFlight == 30 && p.Stats().Produced == st.Produced // nothing answered meanwhile
	})
	c.fs[1].setMode(kafkaUp)
	producer.Wait()
	waitFor(t, 10*time.Second, "every record acked", func() bool { a, f := b.counts(); return a+f == total })
	close(watch)
	watcher.Wait()
	if m := maxInFlight.Load(); m > 30 {
		t.Errorf("max InFlight = %d; want at most buffer_records (30)", m)
	}
	if a, f := b.counts(); f != 0 || a != total {
		t.Errorf("%d acked, %d failed; want %d acked", a, f, total)
	}
	b.verify(c.logs())
	c.checkOwnership(t)
}

// One producer's broker hangs while the others answer: its records wait
// while records accepted later are answered, so Kafka is unhealthy and the
// producer spills (kafka_slow); the hung records' devices are acked by the
// spool. When the broker answers again the spool drains, in order.
func TestShardedOneProducerStallSpills(t *testing.T) {
	c := newFakeShards(3)
	cfg := hybridConfig(t.TempDir())
	cfg.Producer.BufferRecords = 1000
	p := newSharded(t, cfg, c)
	b := newBook(t, c, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)

	c.fs[2].setMode(kafkaHang)
	var keys []string
	for i := range 3 {
		keys = append(keys, keysOn(i, 3, 2)...)
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for _, key := range keys {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				r, _ := b.record(key, AckKafka, false)
				if err := p.Produce(context.Background(), r); err != nil {
					t.Errorf("Produce: %v", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	waitFor(t, 5*time.Second, "a spill", func() bool { return p.Stats().Spills > 0 })
	if st := p.Stats(); st.SpillReason != SpillKafkaSlow {
		t.Errorf("SpillReason = %q; want %q (one producer's broker hangs)", st.SpillReason, SpillKafkaSlow)
	}
	// The hung producer's devices are answered by the spool meanwhile.
	waitFor(t, 5*time.Second, "hung records acked by the spool", func() bool { return p.Stats().Spilled > 0 })
	c.fs[2].setMode(kafkaUp)
	close(quit)
	wg.Wait()
	waitState(t, p, StateDirect)
	b.mu.Lock()
	total := b.total
	b.mu.Unlock()
	waitFor(t, 10*time.Second, "all answered", func() bool { a, f := b.counts(); return a+f == total })
	stop()
	b.verify(c.logs())
	c.checkOwnership(t)
	if _, f := b.counts(); f != 0 {
		t.Errorf("%d records failed (%v); want 0 with the spool", f, errsOf(b.failed))
	}
}

// Skewed overload: the producer that owns the hot keys' partitions is slow
// (its broker answers one record per 5 ms) while the others answer at once.
// Its records wait longer than spill_after_ms, and records accepted later
// on the other producers are answered meanwhile; but its own answers keep
// coming in order, so that is overload, not a stall: nothing spills.
func TestShardedSkewedOverloadDoesNotSpill(t *testing.T) {
	c := newFakeShards(3)
	c.fs[0].setPace(5 * time.Millisecond)
	cfg := hybridConfig(t.TempDir())
	cfg.Producer.BufferRecords = 32 // 32 records × 5 ms: the slow producer's records wait ~160 ms
	cfg.Producer.SpillAfterMs = 100
	p := newSharded(t, cfg, c)
	b := newBook(t, c, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)

	keys := append(keysOn(0, 3, 3), keysOn(1, 3, 1)[0], keysOn(2, 3, 1)[0])
	const perKey = 60
	var wg sync.WaitGroup
	for _, key := range keys {
		wg.Go(func() {
			for range perKey {
				r, _ := b.record(key, AckKafka, false)
				if err := p.Produce(context.Background(), r); err != nil {
					t.Errorf("Produce: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := uint64(len(keys) * perKey)
	waitFor(t, 10*time.Second, "every record back", func() bool { st := p.Stats(); return st.Produced+st.Spilled >= total })
	st := p.Stats()
	stop()
	b.verify(c.logs())
	c.checkOwnership(t)
	if st.Spills != 0 || st.Produced != total {
		t.Errorf("Stats() Spills = %d (reason %q), Produced = %d; want no spill and %d produced directly (skewed overload is not an outage)",
			st.Spills, st.SpillReason, st.Produced, total)
	}
}

// Three producers whose brokers go up, down and hang independently, with
// the spool on: no record fails or is lost, and every key keeps its order
// through the direct path, the spills and the drains.
func TestShardedRandomFailureSchedule(t *testing.T) {
	seeds := []uint64{1, 2}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed*13))
			c := newFakeShards(3)
			cfg := hybridConfig(t.TempDir())
			cfg.Producer.SpillAfterMs = 20
			cfg.Producer.BufferRecords = 64
			p := newSharded(t, cfg, c)
			s := p.spill()
			s.backoffMin, s.backoffMax = 5*time.Millisecond, 40*time.Millisecond
			s.backoff.Store(int64(s.backoffMin))
			b := newBook(t, c, p)
			stop := runProducer(t, p)
			quit := make(chan struct{})
			var wg sync.WaitGroup
			for k := range 9 {
				wg.Go(func() {
					key := fmt.Sprintf("d%d", k)
					for i := 0; ; i++ {
						select {
						case <-quit:
							return
						default:
						}
						r, _ := b.record(key, AckKafka, false)
						if err := p.Produce(context.Background(), r); err != nil {
							t.Errorf("Produce: %v", err)
							return
						}
						if i%2 == 0 {
							time.Sleep(time.Millisecond)
						}
					}
				})
			}
			modes := []string{kafkaUp, kafkaUp, kafkaDown, kafkaHang}
			for range 16 {
				c.fs[rng.IntN(3)].setMode(modes[rng.IntN(len(modes))])
				time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond)
			}
			for _, f := range c.fs {
				f.setMode(kafkaUp)
			}
			close(quit)
			wg.Wait()
			waitState(t, p, StateDirect)
			b.mu.Lock()
			total := b.total
			b.mu.Unlock()
			waitFor(t, 10*time.Second, "all answered", func() bool { a, fl := b.counts(); return a+fl == total })
			stop()
			dups := b.verify(c.logs())
			c.checkOwnership(t)
			a, fl := b.counts()
			st := p.Stats()
			t.Logf("seed %d: %d records, %d acked, %d failed, %d duplicates, %d spills %v, %d spilled, %d drained",
				seed, total, a, fl, dups, st.Spills, st.SpillReasons, st.Spilled, st.Drained)
			if fl != 0 {
				t.Errorf("%d records failed (%v); want 0 with the spool", fl, errsOf(b.failed))
			}
		})
	}
}
