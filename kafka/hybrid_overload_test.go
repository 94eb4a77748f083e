package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A healthy Kafka that is slower than the load: the window fills and every
// record waits longer than spill_after_ms, but Kafka answers a record every
// few milliseconds. That is overload, not an outage: Produce blocks (the
// devices' acks are withheld and the bridge stops reading them), nothing
// spills, QoS 0 is neither spooled nor shed, and every record reaches Kafka
// on the direct path. Before the fix the producer spilled (window_full, then
// kafka_slow) and wrote the load to the spool.
func TestHybridOverloadDoesNotSpill(t *testing.T) {
	f := newFakeKafka(kafkaUp)
	f.setPace(4 * time.Millisecond)
	cfg := hybridConfig(t.TempDir())
	cfg.Producer.BufferRecords = 32 // 32 records × 4 ms: each waits ~130 ms in the window
	cfg.Producer.SpillAfterMs = 100 // ... longer than this, while answers come every 4 ms
	p := newHybrid(t, cfg, f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)

	const keys, perKey = 4, 60
	var wg sync.WaitGroup
	for k := range keys {
		wg.Go(func() { // one publisher per key, as one device per connection
			for i := range perKey {
				r, _ := b.record(fmt.Sprintf("k%d", k), AckKafka, i%2 == 1) // every other record QoS 0
				if err := p.Produce(context.Background(), r); err != nil {
					t.Errorf("Produce: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	const total = keys * perKey
	waitFor(t, 10*time.Second, "every record back from Kafka", func() bool { return p.Stats().Produced+p.Stats().Spilled >= total })
	st := p.Stats()
	stop()
	b.verify(f.logCopy())
	if st.Spills != 0 || st.Spilled != 0 || st.Produced != total {
		t.Errorf("Stats() = %+v; want no spill, nothing spooled, %d produced directly (overload is not an outage)", st, total)
	}
	if st.WindowFull == 0 || st.SpillReason != "" {
		t.Errorf("Stats() WindowFull = %d, SpillReason = %q; want > 0 (the window was full) and none", st.WindowFull, st.SpillReason)
	}
	if st.Dropped[DropShedQoS0] != 0 {
		t.Errorf("Dropped = %v; want no QoS 0 shed under overload", st.Dropped)
	}
}

// One partition stops answering while the others keep answering (one broker
// of several hangs). Answers keep arriving, but a record waits longer than
// spill_after_ms while records accepted spill_after_ms after it were already
// answered: Kafka is unhealthy, so the producer spills (kafka_slow), and the
// stuck records' devices are acked by the spool.
func TestHybridStuckPartitionSpills(t *testing.T) {
	f := newFakeKafka(kafkaUp)
	cfg := hybridConfig(t.TempDir())
	cfg.Producer.BufferRecords = 1000
	p := newHybrid(t, cfg, f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)

	f.setStuck(true)
	stuck := &Record{Topic: "stuck", Key: []byte("s"), Value: []byte("s:0")}
	var stuckErr = make(chan error, 1)
	stuck.Done = func(err error) { stuckErr <- err }
	if err := p.Produce(context.Background(), stuck); err != nil {
		t.Fatal(err)
	}
	// The other partitions answer at once; keep producing to them.
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Spills == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no spill within 5 s while one partition was stuck: %s", p.debugState())
		}
		r, _ := b.record("k0", AckKafka, false)
		if err := p.Produce(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // a steady trickle of load, not a sync
	}
	if st := p.Stats(); st.SpillReasons[SpillKafkaSlow] != 1 || st.SpillReason != SpillKafkaSlow {
		t.Errorf("SpillReasons = %v, SpillReason = %q; want one kafka_slow", st.SpillReasons, st.SpillReason)
	}
	select {
	case err := <-stuckErr:
		if err != nil {
			t.Errorf("stuck record's Done(%v); want nil (acked by its spool copy)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stuck record's device was not answered after the spill")
	}
	f.setStuck(false)
	waitState(t, p, StateDirect)
	stop()
	b.verify(f.logCopy())
}

// After an outage Kafka is back but slower than the load (a firehose that
// starts when the drain does). The drain must win: while draining, Kafka is
// healthy, so new records may not grow the spool faster than it drains. The producer must return to direct
// while the load goes on. Before the fix every new record was appended at
// the spool's speed, the spool never ran empty, and the state stayed
// draining until the load stopped (issue 14: 86 s to drain 4.1M records).
func TestHybridDrainOutrunsLoadAfterOutage(t *testing.T) {
	f := newFakeKafka(kafkaUp)
	cfg := hybridConfig(t.TempDir())
	p := newHybrid(t, cfg, f)
	b := newBook(t, f, p)
	stop := runProducer(t, p)
	waitFor(t, 5*time.Second, "connected", p.Connected)

	f.setMode(kafkaHang)
	produceAll(t, p, b, 4, 50, AckKafka)
	waitState(t, p, StateSpilling)
	f.setPace(time.Millisecond) // back, but takes 1,000 records/s
	f.setMode(kafkaUp)
	waitState(t, p, StateDraining)

	// The load: as fast as Produce returns, QoS 1 and QoS 0, until direct.
	done := make(chan struct{})
	var wg sync.WaitGroup
	for k := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				r, _ := b.record(fmt.Sprintf("k%d", k), AckKafka, i%2 == 1)
				if err := p.Produce(context.Background(), r); err != nil {
					t.Errorf("Produce: %v", err)
					return
				}
			}
		})
	}
	deadline := time.Now().Add(15 * time.Second)
	for p.State() != StateDirect && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := p.Stats()
	close(done)
	wg.Wait()
	if st.State != StateDirect {
		t.Errorf("state %q after 15 s of load with Kafka back; want direct (the drain must outrun the load): spool %d records, %d spilled, %d drained",
			st.State, st.Spool.Records, st.Spilled, st.Drained)
	}
	f.setPace(0)
	waitState(t, p, StateDirect)
	stop()
	b.verify(f.logCopy())
}
