package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka/spool"
)

func produceAll(t *testing.T, p *Producer, b *book, keys, n int, mode AckMode) {
	t.Helper()
	for range n {
		for k := range keys {
			r, _ := b.record(fmt.Sprintf("k%d", k), mode, false)
			if err := p.Produce(context.Background(), r); err != nil {
				t.Fatalf("Produce: %v", err)
			}
		}
	}
}

func waitState(t *testing.T, p *Producer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for state %s: %s", want, p.debugState())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHybridDirectWhenHealthy(t *testing.T) {
	f := newFakeKafka(kafkaUp)
	cfg := hybridConfig(t.TempDir())
	cfg.Producer.BufferRecords = 1000 // never full here
	p := newHybrid(t, cfg, f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)
	produceAll(t, p, b, 4, 50, AckKafka)
	waitFor(t, 5*time.Second, "all acked", func() bool { a, _ := b.counts(); return a == 200 })
	stop()
	b.verify(f.logCopy())
	st := p.Stats()
	if st.State != StateDirect || st.Spills != 0 || st.Spilled != 0 || st.Produced != 200 {
		t.Errorf("Stats() = %+v; want direct, no spill, 200 produced", st)
	}
}

// A broker that hangs: nothing fails, nothing answers. After spill_after_ms
// the records in flight are copied to the spool and their devices acked
// after the fsync; new records spill; when Kafka answers again the copies
// are acked (not sent twice), the spool drains and the state returns to
// direct.
func TestHybridHangSpillsAfterThresholdAndDrains(t *testing.T) {
	f := newFakeKafka(kafkaUp)
	cfg := hybridConfig(t.TempDir())
	p := newHybrid(t, cfg, f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)
	produceAll(t, p, b, 3, 10, AckKafka)
	waitFor(t, 5*time.Second, "first acks", func() bool { a, _ := b.counts(); return a == 30 })

	f.setMode(kafkaHang)
	start := time.Now()
	produceAll(t, p, b, 3, 5, AckKafka) // direct, then held
	waitFor(t, 5*time.Second, "devices acked by the spool", func() bool { a, _ := b.counts(); return a == 45 })
	if el := time.Since(start); el < time.Duration(cfg.Producer.SpillAfterMs)*time.Millisecond {
		t.Errorf("held records acked after %v; want >= spill_after_ms", el)
	}
	if s := p.State(); s != StateSpilling {
		t.Errorf("State() during the hang = %q; want spilling", s)
	}
	produceAll(t, p, b, 3, 20, AckKafka) // straight to the spool
	waitFor(t, 5*time.Second, "spooled records acked", func() bool { a, _ := b.counts(); return a == 105 })
	if st := p.Stats(); st.Spool.Records < 60 || st.Spills != 1 {
		t.Errorf("Stats() = %+v; want >= 60 spooled records, 1 spill", st)
	}

	f.setMode(kafkaUp)
	waitState(t, p, StateDirect)
	produceAll(t, p, b, 3, 5, AckKafka)
	waitFor(t, 5*time.Second, "all acked", func() bool { a, _ := b.counts(); return a == 120 })
	stop()
	dups := b.verify(f.logCopy())
	st := p.Stats()
	if dups != 0 {
		t.Errorf("%d duplicates; want 0 (copies of records Kafka acked must be acked in the spool)", dups)
	}
	if st.Drained != 60 || st.Spool.Records != 0 {
		t.Errorf("Stats() = %+v; want 60 drained, empty spool", st)
	}
}

// Kafka refuses connections: records fail retriably. They are copied to the
// spool instead of failing their devices, and drained when Kafka is back.
func TestHybridDownSpillsFailedRecords(t *testing.T) {
	f := newFakeKafka(kafkaUp)
	p := newHybrid(t, hybridConfig(t.TempDir()), f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)
	f.setMode(kafkaDown)
	produceAll(t, p, b, 4, 25, AckKafka)
	waitFor(t, 5*time.Second, "all acked", func() bool { a, _ := b.counts(); return a == 100 })
	if s := p.State(); s != StateSpilling {
		t.Errorf("State() while down = %q; want spilling", s)
	}
	f.setMode(kafkaUp)
	waitState(t, p, StateDirect)
	stop()
	if _, failed := b.counts(); failed != 0 {
		t.Errorf("%d records failed; want 0", failed)
	}
	b.verify(f.logCopy())
	if st := p.Stats(); st.Drained == 0 || st.Spool.Records != 0 {
		t.Errorf("Stats() = %+v; want drained records and an empty spool", st)
	}
}

// A spill starts for a reason that needs no probe while Connected() is still
// true and sarama has failed nothing yet (found as a flake of
// TestHybridDownSpillsFailedRecords, where the spill then started for
// window_full before the Errors() drainer had seen the first
// ErrOutOfBrokers; since a full window no longer spills, an AckSpool record
// starts it here). The direct records then fail retriably while the route is
// already the spool. That failure must make the drainer probe Kafka first:
// before the fix it drained straight into the down Kafka, and when Kafka came
// back mid-drain the records after a failed one landed before it (key k0:
// record 0 reached Kafka after 15).
func TestHybridWindowFullThenFailuresProbeBeforeDraining(t *testing.T) {
	f := newFakeKafka(kafkaUp)
	cfg := hybridConfig(t.TempDir())
	cfg.Producer.SpillAfterMs = 10_000 // the AckSpool record, not the age of a record, starts the spill
	p := newHybrid(t, cfg, f)
	var probes atomic.Int32
	var failedAtProbe atomic.Uint64 // records Kafka had failed when the drainer first probed
	p.spill().check = func() error {
		if probes.Add(1) == 1 {
			failedAtProbe.Store(p.Stats().Failed[KindUnreachable])
		}
		return f.check()
	}
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)

	f.setMode(kafkaHang)                 // sarama holds the records: nothing has failed when the spill starts
	produceAll(t, p, b, 4, 16, AckKafka) // the window's 64 records
	r, _ := b.record("k0", AckSpool, false)
	if err := p.Produce(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	produceAll(t, p, b, 5, 7, AckKafka)
	waitFor(t, 5*time.Second, "all acked by the spool", func() bool { a, _ := b.counts(); return a == 100 })
	window := uint64(cfg.Producer.BufferRecords)
	if st := p.Stats(); st.Spills != 1 || st.Spool.Records != 100 || !p.Connected() {
		t.Fatalf("Stats() = %+v, Connected() = %v; want 1 spill (ack_spool), 100 spooled records (%d copies), still connected",
			st, p.Connected(), window)
	}

	f.setMode(kafkaDown) // now sarama fails every direct record
	waitFor(t, 5*time.Second, "the drainer's probe", func() bool { return probes.Load() > 0 })
	if got := failedAtProbe.Load(); got != window {
		t.Errorf("Kafka had failed %d records when the drainer first probed; want %d (the direct ones): "+
			"%d spooled records were sent to a Kafka that had just failed every direct record", got, window, got-window)
	}
	if s := p.State(); s != StateSpilling {
		t.Errorf("State() while down = %q; want spilling (%s)", s, p.debugState())
	}

	f.setMode(kafkaUp)
	waitState(t, p, StateDirect)
	stop()
	if _, failed := b.counts(); failed != 0 {
		t.Errorf("%d records failed (%v); want 0", failed, errsOf(b.failed))
	}
	b.verify(f.logCopy())
	if st := p.Stats(); st.Drained != 100 || st.Spool.Records != 0 {
		t.Errorf("Stats() = %+v; want 100 drained, empty spool", st)
	}
}

// Kafka dies right after the drainer's probe passed (a broker that is still
// shutting down answers metadata): the drained records stay with sarama
// (hang, as with a real stopped broker while sarama retries metadata) or
// fail (down). Devices must keep being acked from the spool within about
// spill_after_ms + fsync (a feeder calling Produce in a loop must not be
// throttled by the catching-up hold), and once Kafka is back everything
// drains in order with nothing lost.
func TestHybridKafkaDiesWhenDrainStarts(t *testing.T) {
	for _, mode := range []string{kafkaHang, kafkaDown} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeKafka(kafkaUp)
			cfg := hybridConfig(t.TempDir())
			cfg.Producer.BufferRecords = 256 // the spool stays below it: the drainer counts as catching up
			spillAfter := time.Duration(cfg.Producer.SpillAfterMs) * time.Millisecond
			p := newHybrid(t, cfg, f)
			var die atomic.Bool
			p.spill().check = func() error {
				err := f.check()
				if err == nil && die.CompareAndSwap(true, false) {
					f.setMode(mode) // the probe passed; Kafka dies right after
				}
				return err
			}
			b := newBook(t, f, p)
			stop := runProducer(t, p)
			waitFor(t, 5*time.Second, "connected", p.Connected)
			produceAll(t, p, b, 3, 5, AckKafka)
			waitFor(t, 5*time.Second, "direct acks", func() bool { a, _ := b.counts(); return a == 15 })

			f.setMode(kafkaDown)
			produceAll(t, p, b, 3, 10, AckKafka)
			waitFor(t, 5*time.Second, "spilled acks", func() bool { a, _ := b.counts(); return a == 45 })
			die.Store(true)
			f.setMode(kafkaUp)
			waitFor(t, 5*time.Second, "the drainer's probe", func() bool { return !die.Load() })

			// The feeder: one record at a time, as the bridge's Sink does.
			const n = 120
			start := time.Now()
			var slowest time.Duration
			for i := range n {
				r, _ := b.record(fmt.Sprintf("k%d", i%3), AckKafka, false)
				t0 := time.Now()
				if err := p.Produce(context.Background(), r); err != nil {
					t.Fatalf("Produce: %v", err)
				}
				slowest = max(slowest, time.Since(t0))
			}
			waitFor(t, 5*time.Second, "acks from the spool", func() bool { a, _ := b.counts(); return a == 45+n })
			el := time.Since(start)
			t.Logf("Kafka %s while draining: %d records acked from the spool in %v, slowest Produce %v, state %s",
				mode, n, el.Round(time.Millisecond), slowest.Round(time.Millisecond), p.State())
			// Before the fix every Produce waited spill_after_ms for a switch to
			// direct that could not come: n*spill_after_ms in all.
			if limit := 4*spillAfter + time.Second; el > limit {
				t.Errorf("%d records took %v to be acked while Kafka was %s; want under %v (spill_after_ms + fsync, not per record)",
					n, el, mode, limit)
			}
			if s := p.State(); s != StateSpilling {
				t.Errorf("State() while Kafka is %s = %q; want spilling (%s)", mode, s, p.debugState())
			}

			f.setMode(kafkaUp)
			waitState(t, p, StateDirect)
			produceAll(t, p, b, 3, 5, AckKafka)
			waitFor(t, 5*time.Second, "all acked", func() bool { a, _ := b.counts(); return a == 45+n+15 })
			stop()
			if _, failed := b.counts(); failed != 0 {
				t.Errorf("%d records failed (%v); want 0", failed, errsOf(b.failed))
			}
			b.verify(f.logCopy())
			if st := p.Stats(); st.Spool.Records != 0 {
				t.Errorf("spool holds %d records after the drain; want 0", st.Spool.Records)
			}
		})
	}
}

// Kafka is down before the first record and when the bridge stops; a new
// run replays the spool before any new record, counting Replayed.
func TestHybridRestartReplays(t *testing.T) {
	dir := t.TempDir()
	f := newFakeKafka(kafkaDown)
	p := newHybrid(t, hybridConfig(dir), f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	produceAll(t, p, b, 3, 20, AckKafka)
	waitFor(t, 5*time.Second, "spooled", func() bool { a, _ := b.counts(); return a == 60 })
	start := time.Now()
	stop()
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("shutdown with Kafka down took %v; want a few seconds at most", el)
	}

	f.setMode(kafkaUp)
	p2 := newHybrid(t, hybridConfig(dir), f)
	if s := p2.State(); s != StateSpilling {
		t.Errorf("State() after reopening a non-empty spool = %q; want spilling", s)
	}
	b.fsyncs.Store(0)
	p2.SetFsyncHook(func(time.Duration) { b.fsyncs.Add(1) })
	stop2 := runProducer(t, p2)
	produceAll(t, p2, b, 3, 5, AckKafka) // new records: behind the replayed ones
	waitState(t, p2, StateDirect)
	waitFor(t, 5*time.Second, "all acked", func() bool { a, _ := b.counts(); return a == 75 })
	stop2()
	b.verify(f.logCopy())
	if st := p2.Stats(); st.Replayed != 60 {
		t.Errorf("Replayed = %d; want 60", st.Replayed)
	}
}

// The replay of an earlier run's spool stalls at its tail (Kafka hangs right
// after the probe) and no new record arrives. Found in CI: the drainer had
// read every record and waited in spool.Next, so the rewind the stall asked
// for never ran; the state stayed spilling with an empty spool for good.
// The rewind must wake the drainer, which then probes and goes direct.
func TestHybridStallAtTheSpoolsEndWithNoNewRecords(t *testing.T) {
	dir := t.TempDir()
	f := newFakeKafka(kafkaDown)
	p := newHybrid(t, hybridConfig(dir), f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	produceAll(t, p, b, 3, 10, AckKafka) // 30 records: below buffer_records, all sent at once
	waitFor(t, 5*time.Second, "spooled", func() bool { a, _ := b.counts(); return a == 30 })
	stop()

	f.setMode(kafkaHang)
	p2 := newHybrid(t, hybridConfig(dir), f)
	p2.spill().check = func() error { return nil } // the probe passes; the broker then holds every record
	stop2 := runProducer(t, p2)
	waitFor(t, 5*time.Second, "the drain to stall", func() bool {
		p2.spill().dmu.Lock()
		defer p2.spill().dmu.Unlock()
		return p2.spill().stalled
	})
	f.setMode(kafkaUp) // the held records are delivered; nothing new is produced
	waitState(t, p2, StateDirect)
	stop2()
	b.verify(f.logCopy())
	if st := p2.Stats(); st.Spool.Records != 0 || st.Drained != 30 {
		t.Errorf("after the drain: spool %d records, drained %d; want 0 and 30", st.Spool.Records, st.Drained)
	}
}

// With Kafka down and the quota full: QoS 1 Produce blocks (ctx ends it),
// QoS 0 is shed and counted, the state is blocked; when Kafka returns the
// backlog drains and the blocked record goes through.
func TestHybridQuotaFullBlocksQoS1AndShedsQoS0(t *testing.T) {
	cfg := hybridConfig(t.TempDir())
	cfg.Spool.SegmentBytes = 4096
	cfg.Spool.QuotaBytes = 2 * 4096
	f := newFakeKafka(kafkaDown)
	p := newHybrid(t, cfg, f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	ctx := context.Background()
	n := 0
	for ; ; n++ {
		r, _ := b.record("k", AckKafka, false)
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := p.Produce(short, r)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("Produce(%d) = %v", n, err)
		}
		if n > 10000 {
			t.Fatal("the quota never filled")
		}
	}
	waitFor(t, 5*time.Second, "accepted records acked", func() bool { a, _ := b.counts(); return a == n })
	r0, _ := b.record("k", AckKafka, true)
	if err := p.Produce(ctx, r0); err != nil {
		t.Fatalf("QoS 0 Produce into a full spool = %v; want nil (shed)", err)
	}
	if st := p.Stats(); st.Dropped[DropShedQoS0] != 1 {
		t.Errorf("Dropped = %v; want shed_qos0 1", st.Dropped)
	}
	// A QoS 1 record blocks until Kafka drains the spool.
	blocked := make(chan error, 1)
	r1, id1 := b.record("k", AckKafka, false)
	go func() { blocked <- p.Produce(ctx, r1) }()
	waitState(t, p, StateBlocked)
	f.setMode(kafkaUp)
	select {
	case err := <-blocked:
		if err != nil {
			t.Fatalf("blocked Produce = %v; want nil once room freed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked Produce did not return after Kafka came back")
	}
	waitState(t, p, StateDirect)
	waitFor(t, 5*time.Second, "blocked record acked", func() bool { return f.has(id1) })
	stop()
	b.verify(f.logCopy())
}

// A hanging Kafka at shutdown: Run returns within a few seconds, and the
// spool holds every acked record (a new run delivers them all).
func TestHybridShutdownWhileHungIsBounded(t *testing.T) {
	dir := t.TempDir()
	f := newFakeKafka(kafkaUp)
	p := newHybrid(t, hybridConfig(dir), f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)
	f.setMode(kafkaHang)
	produceAll(t, p, b, 2, 20, AckKafka)
	waitFor(t, 5*time.Second, "acked by the spool", func() bool { a, _ := b.counts(); return a == 40 })
	produceAll(t, p, b, 2, 10, AckKafka)
	r, _ := b.record("k0", AckKafka, false) // the last one may still wait for its fsync
	if err := p.Produce(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stop()
	if el := time.Since(start); el > shutdownFlush+3*time.Second {
		t.Errorf("shutdown while Kafka hangs took %v; want about shutdownFlush (%v)", el, shutdownFlush)
	}
	f.wg.Wait()
	f.setMode(kafkaUp)
	p2 := newHybrid(t, hybridConfig(dir), f)
	stop2 := runProducer(t, p2)
	waitState(t, p2, StateDirect)
	stop2()
	b.verify(f.logCopy())
}

func TestHybridAckModes(t *testing.T) {
	f := newFakeKafka(kafkaUp)
	p := newHybrid(t, hybridConfig(t.TempDir()), f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)
	// AckNone: Done(nil) before Produce returns.
	r, id := b.record("n", AckNone, false)
	if err := p.Produce(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if a, _ := b.counts(); a != 1 {
		t.Fatalf("AckNone record %s not acked when Produce returned", id)
	}
	// AckSpool: through the spool even while direct, acked after an fsync.
	produceAll(t, p, b, 2, 10, AckSpool)
	produceAll(t, p, b, 2, 10, AckKafka)
	waitFor(t, 5*time.Second, "all acked", func() bool { a, _ := b.counts(); return a == 41 })
	waitState(t, p, StateDirect)
	waitFor(t, 5*time.Second, "all in Kafka", func() bool { return len(f.logCopy()) >= 41 })
	if st := p.Stats(); st.Spilled < 20 {
		t.Errorf("Spilled = %d; want >= 20 (AckSpool records)", st.Spilled)
	}
	// AckNone while not direct: shed.
	f.setMode(kafkaDown)
	produceAll(t, p, b, 1, 3, AckKafka)
	waitState(t, p, StateSpilling)
	r, _ = b.record("n", AckNone, false)
	if err := p.Produce(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Dropped[DropShedAckNone] != 1 {
		t.Errorf("Dropped = %v; want shed_ack_none 1", st.Dropped)
	}
	f.setMode(kafkaUp)
	waitState(t, p, StateDirect)
	stop()
	b.verify(f.logCopy())
}

// A spooled record that Kafka refuses for good goes to OnPermanentFailure
// and is acked in the spool; the drain goes on.
func TestHybridPermanentFailureOfSpooledRecord(t *testing.T) {
	f := newFakeKafka(kafkaDown)
	p := newHybrid(t, hybridConfig(t.TempDir()), f)
	var mu sync.Mutex
	var dead []string
	p.OnPermanentFailure(func(r Record, err error) {
		mu.Lock()
		dead = append(dead, fmt.Sprintf("%s/%s/%s", r.Topic, r.Value, ErrorKind(err)))
		mu.Unlock()
	})
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	produceAll(t, p, b, 1, 2, AckKafka)
	bad := &Record{Topic: "refused", Key: []byte("k0"), Value: []byte("bad"), Done: func(error) {}}
	if err := p.Produce(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	produceAll(t, p, b, 1, 2, AckKafka)
	waitFor(t, 5*time.Second, "spooled", func() bool { a, _ := b.counts(); return a == 4 })
	f.setMode(kafkaUp)
	waitState(t, p, StateDirect)
	stop()
	b.verify(f.logCopy())
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != 1 || dead[0] != "refused/bad/too_large" {
		t.Errorf("OnPermanentFailure got %v; want [refused/bad/too_large]", dead)
	}
	if st := p.Stats(); st.SpoolFailed[KindTooLarge] != 1 {
		t.Errorf("SpoolFailed = %v; want too_large 1", st.SpoolFailed)
	}
}

// Property: under a random schedule of up / down / hang, with several keys
// and mixed modes, every acked record reaches Kafka, no record is acked
// early, and per-key order holds across every switch.
func TestHybridRandomFailureSchedule(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if testing.Short() {
		seeds = seeds[:1]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed*7))
			f := newFakeKafka(kafkaUp)
			cfg := hybridConfig(t.TempDir())
			cfg.Producer.SpillAfterMs = 20
			cfg.Producer.BufferRecords = 64
			p := newHybrid(t, cfg, f)
			p.spill().backoffMin, p.spill().backoffMax = 5*time.Millisecond, 40*time.Millisecond
			p.spill().backoff.Store(int64(p.spill().backoffMin))
			b := newBook(t, f, p)
			stop := runProducer(t, p)
			var wg sync.WaitGroup
			var spoolPhase atomic.Bool // AckSpool records flow (they keep the spool route)
			quit := make(chan struct{})
			const keys = 5
			for k := range keys {
				wg.Go(func() {
					key := fmt.Sprintf("k%d", k)
					for i := 0; ; i++ {
						select {
						case <-quit:
							return
						default:
						}
						mode := AckKafka
						if i%17 == 5 && spoolPhase.Load() {
							mode = AckSpool
						}
						r, _ := b.record(key, mode, false)
						if err := p.Produce(context.Background(), r); err != nil {
							t.Errorf("Produce: %v", err)
							return
						}
						if i%2 == 0 {
							time.Sleep(time.Millisecond) // about 10k records/s in all: the drain can catch up
						}
					}
				})
			}
			modes := []string{kafkaUp, kafkaDown, kafkaHang}
			for range 16 {
				f.setMode(modes[rng.IntN(len(modes))])
				spoolPhase.Store(rng.IntN(4) == 0)
				time.Sleep(time.Duration(20+rng.IntN(200)) * time.Millisecond)
			}
			f.setMode(kafkaUp)
			close(quit)
			wg.Wait()
			waitState(t, p, StateDirect)
			b.mu.Lock()
			total := b.total
			b.mu.Unlock()
			waitFor(t, 10*time.Second, "all answered", func() bool { a, fl := b.counts(); return a+fl == total })
			stop()
			dups := b.verify(f.logCopy())
			a, fl := b.counts()
			st := p.Stats()
			t.Logf("seed %d: %d records, %d acked, %d failed, %d duplicates, %d spills, %d spilled, %d drained",
				seed, total, a, fl, dups, st.Spills, st.Spilled, st.Drained)
			if fl != 0 {
				t.Errorf("%d records failed (%v); want 0 with the spool", fl, errsOf(b.failed))
			}
		})
	}
}

func TestHybridConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"spill_after zero", func(c *Config) { c.Producer.SpillAfterMs = 0 }, "kafka.producer.spill_after_ms"},
		{"spill_after above delivery timeout", func(c *Config) { c.Spool.Enabled = true; c.Producer.SpillAfterMs = 200000 }, "kafka.producer.spill_after_ms"},
		{"qos0_when_full", func(c *Config) { c.Producer.QoS0WhenFull = "drop" }, "kafka.producer.qos0_when_full"},
		{"spool key", func(c *Config) { c.Spool.Enabled = true; c.Spool.Fsync = "sometimes" }, "kafka.spool.fsync"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !containsKey(err.Error(), tc.want) {
				t.Errorf("Validate() = %v; want an error naming %s", err, tc.want)
			}
		})
	}
	c := DefaultConfig()
	c.Spool.Fsync = "sometimes" // ignored while the spool is disabled
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() with the spool disabled = %v; want nil", err)
	}
	_ = spool.ErrFull
}

func containsKey(s, key string) bool { return len(s) >= len(key) && s[:len(key)] == key }

// BenchmarkProducerHybrid measures Produce-to-Done with the spool on: direct
// (Kafka up, the fake answers at once) and spilling (Kafka down: every
// record is appended and acked after the fsync), per fsync policy.
func BenchmarkProducerHybrid(b *testing.B) {
	for _, bc := range []struct {
		name, mode, fsync string
	}{
		{"kafka_up", kafkaUp, spool.FsyncAlways},
		{"spill_fsync_always", kafkaDown, spool.FsyncAlways},
		{"spill_fsync_never", kafkaDown, spool.FsyncNever},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFakeKafka(bc.mode)
			cfg := hybridConfig(b.TempDir())
			cfg.Spool.Fsync = bc.fsync
			cfg.Spool.SegmentBytes = 16 << 20
			cfg.Spool.QuotaBytes = 1 << 30
			cfg.Producer.BufferRecords = 10000
			p, err := NewProducer(cfg, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			p.w.open, p.spill().check = f.factory(), f.check
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- p.Run(ctx) }()
			if bc.mode == kafkaUp {
				for !p.Connected() {
					time.Sleep(time.Millisecond)
				}
			}
			var wg sync.WaitGroup
			done := func(error) { wg.Done() }
			val := make([]byte, 128)
			key := []byte("device-1")
			b.ReportAllocs()
			b.SetBytes(int64(len(val)))
			b.ResetTimer()
			wg.Add(b.N)
			for range b.N {
				if err := p.Produce(ctx, &Record{Topic: "t", Key: key, Value: val, Done: done}); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			b.StopTimer()
			st := p.Stats()
			b.ReportMetric(float64(st.Spills), "spills")
			b.ReportMetric(float64(st.Spilled)/float64(b.N), "spilled/op")
			if bc.mode == kafkaDown && st.Spilled < uint64(b.N) {
				b.Fatalf("spilled %d of %d", st.Spilled, b.N)
			}
			cancel()
			<-errc
			f.wg.Wait()
		})
	}
}
