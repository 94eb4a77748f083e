package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// Record is one record of an internal topic as a table applies it. Value
// is nil for a tombstone. Timestamp is the record's Kafka timestamp (the
// broker's LogAppendTime where the topic has it).
type Record struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
	// Replayed: the partition is read from the topic's start (no
	// checkpoint, or a rebuild) and the record is below the high-water
	// mark seen at start, so this replica may have acted on it in an
	// earlier life. One-off effects (a reap's will) are skipped.
	Replayed bool
}

// applier is the state a table maintains. Its methods run on the table's
// goroutine, one at a time.
type applier interface {
	// reset drops all state (a rebuild from the topic's start).
	reset()
	// restore loads one cached entry, before any record is applied.
	restore(key, value []byte) error
	// apply applies one record in log order and returns what the cache
	// keeps for its key (nil: remove the key). An error stops the table.
	apply(r *Record) (keep []byte, err error)
}

// tableBatch bounds the records applied in one cache transaction.
const tableBatch = 1000

// checkpointEvery refreshes the checkpoints' time while a table is idle,
// so an idle but running replica is not mistaken for one that was down
// longer than delete.retention.ms.
const checkpointEvery = time.Minute

// Table reads every partition of a compacted topic by direct assignment
// (no consumer group) from the offsets checkpointed in the cache, applies
// the records in log order to its applier and commits what the applier
// keeps together with the offsets in one cache transaction.
type Table struct {
	name  string
	topic string
	info  topicInfo
	cache *cache
	ap    applier
	log   *zap.Logger

	mu       sync.Mutex
	applied  []int64                    // next offset to apply, per partition
	hwm      []int64                    // high-water marks seen at start
	cold     []bool                     // per partition: read from the topic's start
	changed  chan struct{}              // closed and replaced on every applied batch
	caughtUp chan struct{}              // closed once applied >= hwm everywhere
	err      error                      // set when Run stopped with an error
	pcs      []sarama.PartitionConsumer // while Run reads: their high-water marks, for Behind

	records atomic.Uint64 // records applied since Run started
}

func newTable(name, topic string, info topicInfo, c *cache, ap applier, log *zap.Logger) *Table {
	return &Table{name: name, topic: topic, info: info, cache: c, ap: ap, log: log.With(zap.String("table", name)),
		changed: make(chan struct{}), caughtUp: make(chan struct{})}
}

// CaughtUp is closed once the table has applied every record up to the
// high-water marks seen when Run started.
func (t *Table) CaughtUp() <-chan struct{} { return t.caughtUp }

// Lag is the number of records between what was applied and the
// high-water marks seen at start (0 once caught up).
func (t *Table) Lag() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lag int64
	for p := range t.hwm {
		lag += max(0, t.hwm[p]-t.applied[p])
	}
	return lag
}

// Behind is the number of records between what was applied and the
// partitions' high-water marks as the last fetches saw them (at least the
// ones seen at start): the table's lag while it runs.
func (t *Table) Behind() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lag int64
	for p := range t.hwm {
		hw := t.hwm[p]
		if p < len(t.pcs) {
			hw = max(hw, t.pcs[p].HighWaterMarkOffset())
		}
		lag += max(0, hw-t.applied[p])
	}
	return lag
}

// Records is the number of records applied since Run started (the cache
// restored at start not included).
func (t *Table) Records() uint64 { return t.records.Load() }

// Name is the table's name ("sessions", "retained", "replicas").
func (t *Table) Name() string { return t.name }

// WaitApplied returns once the record at offset of partition has been
// applied (read your own write), or with ctx's error, or with the error
// that stopped the table.
func (t *Table) WaitApplied(ctx context.Context, partition int32, offset int64) error {
	for {
		t.mu.Lock()
		if t.err != nil {
			err := t.err
			t.mu.Unlock()
			return err
		}
		if int(partition) < len(t.applied) && t.applied[partition] > offset {
			t.mu.Unlock()
			return nil
		}
		ch := t.changed
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Run reads the table until ctx ends; it returns nil then, or the error
// that stopped it (a record that does not decode, a cache failure).
func (t *Table) Run(ctx context.Context, client sarama.Client) error {
	err := t.run(ctx, client)
	t.mu.Lock()
	if err != nil {
		t.err = err
	} else {
		t.err = errors.New("table " + t.name + " stopped")
	}
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	return err
}

func (t *Table) run(ctx context.Context, client sarama.Client) error {
	n := t.info.partitions
	start, err := t.startOffsets(client, n)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.applied = start
	t.checkCaughtUpLocked()
	t.mu.Unlock()

	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("table %s: consumer: %w", t.name, err)
	}
	defer consumer.Close()
	in := make(chan *sarama.ConsumerMessage, tableBatch) // one batch ahead of the applier
	readCtx, stopReaders := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopReaders()
	for p := int32(0); p < n; p++ {
		pc, err := consumer.ConsumePartition(t.topic, p, start[p])
		if err != nil {
			return fmt.Errorf("table %s: consume partition %d from %d: %w", t.name, p, start[p], err)
		}
		t.mu.Lock()
		t.pcs = append(t.pcs, pc)
		t.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for {
				select {
				case <-readCtx.Done():
					return
				case m := <-pc.Messages():
					select {
					case in <- m:
					case <-readCtx.Done():
						return
					}
				case e := <-pc.Errors():
					if e != nil {
						t.log.Warn("cluster: table read error", zap.Int32("partition", e.Partition), zap.Error(e.Err))
					}
				}
			}
		}()
	}

	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	batch := make([]*sarama.ConsumerMessage, 0, tableBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return t.checkpointNow()
		case <-tick.C:
			if err := t.checkpointNow(); err != nil {
				return err
			}
			continue
		case m := <-in:
			batch = append(batch, m)
		}
	more:
		for len(batch) < tableBatch {
			select {
			case m := <-in:
				batch = append(batch, m)
			default:
				break more
			}
		}
		if err := t.applyBatch(batch); err != nil {
			return err
		}
	}
}

// startOffsets decides where each partition starts: the checkpoint, or
// the topic's start after a rebuild (cache cleared) when a checkpoint is
// older than delete.retention.ms (a tombstone may have been compacted away
// unseen) or below the partition's log start.
func (t *Table) startOffsets(client sarama.Client, n int32) ([]int64, error) {
	cps, err := t.cache.checkpoints(t.name)
	if err != nil {
		return nil, err
	}
	oldest := make([]int64, n)
	t.hwm = make([]int64, n)
	rebuild := ""
	for p := int32(0); p < n; p++ {
		if oldest[p], err = client.GetOffset(t.topic, p, sarama.OffsetOldest); err != nil {
			return nil, fmt.Errorf("table %s: log start of partition %d: %w", t.name, p, err)
		}
		if t.hwm[p], err = client.GetOffset(t.topic, p, sarama.OffsetNewest); err != nil {
			return nil, fmt.Errorf("table %s: high-water mark of partition %d: %w", t.name, p, err)
		}
		cp, ok := cps[p]
		switch {
		case !ok:
		case cp.Next > t.hwm[p]:
			return nil, fmt.Errorf("table %s: partition %d: checkpoint %d is beyond the high-water mark %d (records were lost in Kafka); stop every replica and delete cluster.db to rebuild", t.name, p, cp.Next, t.hwm[p])
		case cp.Next < oldest[p]:
			rebuild = fmt.Sprintf("partition %d: checkpoint %d is below the log start %d", p, cp.Next, oldest[p])
		case timeNow().Sub(cp.At) > t.info.deleteRetention:
			rebuild = fmt.Sprintf("partition %d: checkpoint of %v is older than delete.retention.ms (%v)", p, cp.At, t.info.deleteRetention)
		}
	}
	start := make([]int64, n)
	t.cold = make([]bool, n)
	if rebuild != "" {
		t.log.Warn("cluster: rebuilding table from the topic's start", zap.String("why", rebuild))
		if err := t.cache.clearTable(t.name); err != nil {
			return nil, err
		}
		t.ap.reset()
		copy(start, oldest)
		for p := range t.cold {
			t.cold[p] = true
		}
		return start, nil
	}
	if err := t.cache.load(t.name, t.ap.restore); err != nil {
		return nil, fmt.Errorf("table %s: restore from cache: %w", t.name, err)
	}
	for p := int32(0); p < n; p++ {
		if cp, ok := cps[p]; ok {
			start[p] = cp.Next
		} else {
			start[p], t.cold[p] = oldest[p], true
		}
	}
	return start, nil
}

func (t *Table) applyBatch(batch []*sarama.ConsumerMessage) error {
	changes := make([]kv, 0, len(batch))
	next := map[int32]int64{}
	for _, m := range batch {
		r := Record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp,
			Replayed: t.cold[m.Partition] && m.Offset < t.hwm[m.Partition]}
		keep, err := t.ap.apply(&r)
		if err != nil {
			return fmt.Errorf("table %s: partition %d offset %d: %w", t.name, m.Partition, m.Offset, err)
		}
		changes = append(changes, kv{Key: m.Key, Value: keep})
		next[m.Partition] = m.Offset + 1
	}
	if err := t.cache.commit(t.name, changes, next, timeNow()); err != nil {
		return fmt.Errorf("table %s: cache: %w", t.name, err)
	}
	t.records.Add(uint64(len(batch)))
	t.mu.Lock()
	for p, o := range next {
		t.applied[p] = o
	}
	t.checkCaughtUpLocked()
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	return nil
}

func (t *Table) checkCaughtUpLocked() {
	select {
	case <-t.caughtUp:
		return
	default:
	}
	for p := range t.hwm {
		if t.applied[p] < t.hwm[p] {
			return
		}
	}
	close(t.caughtUp)
}

// checkpointNow stores the applied offsets with the current time.
func (t *Table) checkpointNow() error {
	t.mu.Lock()
	next := make(map[int32]int64, len(t.applied))
	for p, o := range t.applied {
		next[int32(p)] = o
	}
	t.mu.Unlock()
	return t.cache.commit(t.name, nil, next, timeNow())
}

// timeNow is the clock for checkpoints; tests replace it.
var timeNow = time.Now
