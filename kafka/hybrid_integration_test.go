package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// With the spool on, stopping Kafka under load must not stall the devices
// (records spill and are acked after the fsync), and once Kafka is back
// every Done(nil) record is in Kafka with per-key order intact. A second
// phase stops the producer while Kafka is down (bounded shutdown) and
// checks that a new run replays what the spool kept.
func TestHybridIntegrationKafkaStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Kafka (skipped in -short mode)")
	}
	bootstrap, stopKafka, startKafka := testenv.StartOwnKafka(t, freePortPair(t))
	topic := "hybrid"
	testenv.CreateTopic(t, bootstrap, topic, 3)
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{bootstrap}
	cfg.Producer.RequestTimeoutMs = 5000
	cfg.Producer.BufferRecords = 500
	cfg.Producer.SpillAfterMs = 500
	cfg.Spool.Enabled = true
	cfg.Spool.Dir = dir
	cfg.Spool.SegmentBytes = 1 << 20
	cfg.Spool.QuotaBytes = 64 << 20
	p, stopProducer := startProducer(t, cfg)

	l := newLedger()
	const keys = 6
	var (
		mu       sync.Mutex
		produced int
		feedErr  error
		seq      int
		wg       sync.WaitGroup
		stopFeed = make(chan struct{})
		lat      []time.Duration // Produce-to-Done latency while Kafka is down
		down     bool
	)
	feed := func(p *Producer) {
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
				start := time.Now()
				done := l.done(id)
				r := &Record{Topic: topic, Key: []byte(key), Value: []byte(id), Done: func(err error) {
					mu.Lock()
					if down {
						lat = append(lat, time.Since(start))
					}
					mu.Unlock()
					done(err)
				}}
				if err := p.Produce(context.Background(), r); err != nil {
					mu.Lock()
					feedErr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				produced++
				mu.Unlock()
			}
			seq++
		}
	}
	wg.Go(func() { feed(p) })
	waitFor(t, 30*time.Second, "records flowing", func() bool { a, _ := l.counts(); return a > 300 })

	stopKafka()
	mu.Lock()
	down = true
	mu.Unlock()
	a0, _ := l.counts()
	waitFor(t, 30*time.Second, "acks while Kafka is down", func() bool { a, _ := l.counts(); return a > a0+1000 })
	if s := p.State(); s != StateSpilling && s != StateDraining {
		t.Errorf("State() while Kafka is down = %q; want spilling", s)
	}
	mu.Lock()
	down = false
	ls := append([]time.Duration(nil), lat...)
	mu.Unlock()
	t.Logf("while down: %d acks, max latency %v, spool %+v", len(ls), maxDur(ls), p.Stats().Spool)

	startKafka()
	waitFor(t, 90*time.Second, "back to direct", func() bool { return p.State() == StateDirect })
	a1, _ := l.counts()
	waitFor(t, 30*time.Second, "direct acks", func() bool { a, _ := l.counts(); return a > a1+300 })
	close(stopFeed)
	wg.Wait()
	mu.Lock()
	total, ferr := produced, feedErr
	mu.Unlock()
	if ferr != nil {
		t.Fatalf("Produce: %v", ferr)
	}
	waitFor(t, 60*time.Second, "all completed", func() bool { a, f := l.counts(); return a+f == total })
	st := p.Stats()
	stopProducer()
	acked, failed := l.counts()
	t.Logf("phase 1: %d produced, %d acked, %d failed; %d spills, %d spilled, %d drained", total, acked, failed, st.Spills, st.Spilled, st.Drained)
	if failed > 0 {
		t.Errorf("%d records failed with the spool on: %v", failed, firstErrs(l))
	}

	// Phase 2: Kafka down, records spill, the producer stops (bounded), a
	// new run replays them.
	stopKafka()
	p2, stop2 := startProducer(t, cfg)
	stopFeed = make(chan struct{})
	wg.Go(func() { feed(p2) })
	a2, _ := l.counts()
	waitFor(t, 30*time.Second, "acks from the spool", func() bool { a, _ := l.counts(); return a > a2+500 })
	close(stopFeed)
	wg.Wait()
	mu.Lock()
	total = produced
	mu.Unlock()
	waitFor(t, 30*time.Second, "all completed", func() bool { a, f := l.counts(); return a+f == total })
	t0 := time.Now()
	stop2()
	el := time.Since(t0)
	t.Logf("shutdown with Kafka down took %v", el.Round(time.Millisecond))
	if el > 10*time.Second {
		t.Errorf("shutdown with Kafka down took %v; want a few seconds", el)
	}
	startKafka()
	p3, stop3 := startProducer(t, cfg)
	waitFor(t, 90*time.Second, "replayed", func() bool { return p3.State() == StateDirect })
	st3 := p3.Stats()
	stop3()
	t.Logf("phase 2: replayed %d records", st3.Replayed)
	if st3.Replayed == 0 {
		t.Error("Replayed = 0 after a shutdown with Kafka down; want the spooled records")
	}

	// Phase 3: Kafka stops while records are with sarama, and the producer
	// stops right after: the flush wait is bounded, sarama is cut short, and
	// the devices that were acked are covered by the spool.
	p4, stop4 := startProducer(t, cfg)
	stopFeed = make(chan struct{})
	wg.Go(func() { feed(p4) })
	a4, _ := l.counts()
	waitFor(t, 30*time.Second, "direct acks", func() bool { a, _ := l.counts(); return a > a4+300 })
	stopKafka()
	a5, _ := l.counts()
	waitFor(t, 30*time.Second, "acks from the spool", func() bool { a, _ := l.counts(); return a > a5+300 })
	close(stopFeed)
	wg.Wait()
	t0 = time.Now()
	stop4()
	el = time.Since(t0)
	t.Logf("phase 3: shutdown right after Kafka stopped took %v", el.Round(time.Millisecond))
	if el > shutdownFlush+5*time.Second {
		t.Errorf("shutdown took %v; want about shutdownFlush (%v)", el, shutdownFlush)
	}
	startKafka()
	p5, stop5 := startProducer(t, cfg)
	waitFor(t, 90*time.Second, "replayed", func() bool { return p5.State() == StateDirect })
	stop5()

	inKafka := testenv.ConsumeAll(t, bootstrap, topic, 60*time.Second)
	dups := checkLog(t, inKafka, l, 3)
	acked, failed = l.counts()
	t.Logf("%d acked, %d failed, %d read back, %d duplicates", acked, failed, len(inKafka), dups)
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
