package kafka

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// A broker behind a proxy that stops forwarding without closing anything:
// sarama sees no error for request_timeout_ms. The producer must notice by
// age (spill_after_ms), keep acking devices from the spool, and recover
// when the proxy forwards again. A shutdown while hung must be bounded.
func TestHybridIntegrationKafkaHangs(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs Kafka (skipped in -short mode)")
	}
	port := freePortPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultkit.NewProxy(ln, fmt.Sprintf("127.0.0.1:%d", port))
	pctx, pcancel := context.WithCancel(context.Background())
	var pwg sync.WaitGroup
	pwg.Go(func() { _ = proxy.Run(pctx) })
	defer func() { pcancel(); pwg.Wait() }()
	bootstrap, _, _ := testenv.StartOwnKafkaAdvertised(t, port, ln.Addr().(*net.TCPAddr).Port)
	topic := "hang"
	testenv.CreateTopic(t, bootstrap, topic, 3)

	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{proxy.Addr().String()}
	cfg.Producer.RequestTimeoutMs = 5000
	cfg.Producer.BufferRecords = 20000 // the age threshold, not a full window, must detect the hang
	cfg.Producer.SpillAfterMs = 500
	cfg.Spool.Enabled = true
	cfg.Spool.Dir = dir
	cfg.Spool.SegmentBytes = 1 << 20
	cfg.Spool.QuotaBytes = 64 << 20

	l := newLedger()
	var (
		mu    sync.Mutex
		seq   int
		hung  bool
		lat   []time.Duration
		wg    sync.WaitGroup
		total int
	)
	feed := func(p *Producer, stop chan struct{}) {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for k := range 6 {
				key := fmt.Sprintf("dev-%d", k)
				id := fmt.Sprintf("%s:%d", key, seq)
				start, done := time.Now(), l.done(id)
				r := &Record{Topic: topic, Key: []byte(key), Value: []byte(id), Done: func(err error) {
					mu.Lock()
					if hung {
						lat = append(lat, time.Since(start))
					}
					mu.Unlock()
					done(err)
				}}
				if err := p.Produce(context.Background(), r); err != nil {
					t.Errorf("Produce: %v", err)
					return
				}
				mu.Lock()
				total++
				mu.Unlock()
			}
			seq++
		}
	}

	p, stopP := startProducer(t, cfg)
	stopFeed := make(chan struct{})
	wg.Go(func() { feed(p, stopFeed) })
	waitFor(t, 30*time.Second, "direct acks", func() bool { return p.State() == StateDirect && func() bool { a, _ := l.counts(); return a > 300 }() })

	proxy.Hang()
	mu.Lock()
	hung = true
	mu.Unlock()
	a0, _ := l.counts()
	waitFor(t, 30*time.Second, "acks while hung", func() bool { a, _ := l.counts(); return a > a0+12000 })
	if s := p.State(); s != StateSpilling {
		t.Errorf("State() while the broker hangs = %q; want spilling", s)
	}
	mu.Lock()
	hung = false
	ls := append([]time.Duration(nil), lat...)
	mu.Unlock()
	t.Logf("while hung: %d acks, max Produce-to-Done %v, spills %d", len(ls), maxDur(ls), p.Stats().Spills)
	if m := maxDur(ls); m < time.Duration(cfg.Producer.SpillAfterMs)*time.Millisecond {
		t.Errorf("max ack latency while hung %v; want >= spill_after_ms (records in flight wait for it)", m)
	}
	if m := maxDur(ls); m > 3*time.Second {
		t.Errorf("max ack latency while hung %v; want about spill_after_ms plus an fsync", m)
	}

	proxy.Resume()
	waitFor(t, 90*time.Second, "back to direct", func() bool { return p.State() == StateDirect })
	close(stopFeed)
	wg.Wait()

	// Hang again and stop the producer while hung.
	stopFeed = make(chan struct{})
	wg.Go(func() { feed(p, stopFeed) })
	proxy.Hang()
	a1, _ := l.counts()
	waitFor(t, 30*time.Second, "acks while hung", func() bool { a, _ := l.counts(); return a > a1+1000 })
	close(stopFeed)
	wg.Wait()
	mu.Lock()
	n := total
	mu.Unlock()
	waitFor(t, 30*time.Second, "all answered", func() bool { a, f := l.counts(); return a+f == n })
	t0 := time.Now()
	stopP()
	el := time.Since(t0)
	t.Logf("shutdown while hung took %v", el.Round(time.Millisecond))
	if el > shutdownFlush+probeTimeout+5*time.Second {
		t.Errorf("shutdown while hung took %v; want about shutdownFlush", el)
	}
	proxy.Resume()
	p2, stop2 := startProducer(t, cfg)
	waitFor(t, 90*time.Second, "replayed", func() bool { return p2.State() == StateDirect })
	st := p2.Stats()
	stop2()

	acked, failed := l.counts()
	if failed > 0 {
		t.Errorf("%d records failed with the spool on: %v", failed, firstErrs(l))
	}
	inKafka := testenv.ConsumeAll(t, bootstrap, topic, 60*time.Second)
	dups := checkLog(t, inKafka, l, 3)
	t.Logf("%d produced, %d acked, %d failed, %d read back, %d duplicates, %d replayed", n, acked, failed, len(inKafka), dups, st.Replayed)
}
