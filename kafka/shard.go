package kafka

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// The producers behind the window (kafka.producer.producers, README.md "The
// Kafka ceiling"). The idempotent sarama producer keeps one produce request
// in flight per broker; N producers, each with its own client (connections
// and producer id), keep N. Partition p of every topic belongs to producer
// p % N, so each partition, and with it each key, still has exactly one
// producer with one request in flight, and per-key order and the broker's
// duplicate check hold as with one producer.
//
// With one producer the feeder hands records to sarama, whose partitioner
// picks the partition (as before there were shards). With more, the feeder
// picks it (PartitionWith, sarama's manual partitioner sends it there) and
// queues the message on its producer's input, from which that producer's own
// goroutine feeds sarama: a producer whose broker stalls holds up only its
// own records (and, through the window's slots, the load).

// partitionLister gives a topic's partitions. The real producer's client
// does (clientProducer); the feeder needs it to pick partitions itself.
type partitionLister interface {
	Partitions(topic string) ([]int32, error)
}

// clientProducer is a sarama producer with the client it runs on.
type clientProducer struct {
	sarama.AsyncProducer
	client sarama.Client
}

// Partitions returns the topic's partitions from the client's metadata
// (cached; refreshed when the topic is new to it).
func (c clientProducer) Partitions(topic string) ([]int32, error) { return c.client.Partitions(topic) }

// shard is one sarama producer of the window, for one Run.
type shard struct {
	ap          sarama.AsyncProducer
	closeClient func() error
	// in holds the messages the feeder routed to this producer that its
	// input goroutine has not handed to sarama yet (more than one producer
	// only). Its capacity is buffer_records: each message in it holds a
	// window slot, so the feeder's send never blocks.
	in chan *sarama.ProducerMessage
}

// answers is one source of Kafka's health signal (window.stuck): when
// sarama last handed a record back (success or error), and the latest
// acceptance time among the records it handed back. Unix ns.
type answers struct {
	last   atomic.Int64
	newest atomic.Int64
}

func (a *answers) note(accepted, now int64) {
	a.last.Store(now)
	for {
		old := a.newest.Load()
		if accepted <= old || a.newest.CompareAndSwap(old, accepted) {
			return
		}
	}
}

// stuck reports whether, by these answers, Kafka stalled on a record
// accepted at acc that is still with it: nothing came back for after, or
// records accepted more than after later came back.
func (a *answers) stuck(acc, now int64, after time.Duration) bool {
	return now-a.last.Load() > int64(after) || a.newest.Load()-acc > int64(after)
}

// dialShards opens the producers, retrying each with back-off until ctx
// ends (then it closes those it opened and returns nil).
func (w *window) dialShards(ctx context.Context) ([]*shard, error) {
	shards := make([]*shard, 0, w.producers)
	for len(shards) < w.producers {
		ap, closeClient := w.dial(ctx)
		if ap == nil {
			w.closeUnused(shards)
			return nil, nil
		}
		s := &shard{ap: ap, closeClient: closeClient}
		shards = append(shards, s)
		if w.producers == 1 {
			break
		}
		s.in = make(chan *sarama.ProducerMessage, cap(w.slots))
		if len(shards) == 1 {
			pl, ok := ap.(partitionLister)
			if !ok {
				w.closeUnused(shards)
				return nil, errors.New("kafka producer: producers > 1 needs the client's partition metadata")
			}
			w.parts = pl
		}
	}
	return shards, nil
}

// closeUnused closes producers that never got a record (Run ended while the
// others were being opened).
func (w *window) closeUnused(shards []*shard) {
	for _, s := range shards {
		s.ap.AsyncClose()
		for range s.ap.Successes() {
		}
		for range s.ap.Errors() {
		}
		if err := s.closeClient(); err != nil {
			w.log.Warn("kafka producer: closing client", zap.Error(err))
		}
	}
}

// startShard starts the goroutines of shard i: its Successes() and Errors()
// drainers and, with more than one producer, its input goroutine (the only
// sender on its Input(); it closes the producer once the feeder closed in).
// They end when sarama has handed every record back after AsyncClose.
func (w *window) startShard(wg *sync.WaitGroup, i int, s *shard) {
	src := &w.answered
	if len(w.shardAnswers) > 1 {
		src = &w.shardAnswers[i]
	}
	wg.Go(func() {
		for m := range s.ap.Successes() {
			w.connect.Store(true)
			e := m.Metadata.(*envelope)
			w.noteAnswer(src, e, time.Now())
			w.settle(e, nil)
		}
	})
	wg.Go(func() {
		for pe := range s.ap.Errors() {
			if kindOf(pe.Err) == kindUnreachable {
				w.connect.Store(false)
			}
			e := pe.Msg.Metadata.(*envelope)
			w.noteAnswer(src, e, time.Now())
			w.settle(e, pe.Err)
		}
	})
	if s.in != nil {
		wg.Go(func() {
			for m := range s.in {
				s.ap.Input() <- m
			}
			s.ap.AsyncClose()
		})
	}
}

// route hands e to the producer that owns its partition (more than one
// producer). The partition is the one sarama's partitioner would pick with
// one producer: PartitionWith for a keyed record, a random one for a record
// without a key. A record whose topic has no partitions to be had (unknown,
// invalid, not authorized, or Kafka unreachable for its first record) is
// settled with the error, as sarama would hand it back. Feeder goroutine
// only.
func (w *window) route(e *envelope, shards []*shard) {
	parts, err := w.parts.Partitions(e.rec.Topic)
	if err == nil && len(parts) == 0 {
		err = sarama.ErrLeaderNotAvailable
	}
	if err != nil {
		if kindOf(err) == kindUnreachable {
			w.connect.Store(false)
		}
		w.noteAnswer(&w.answered, e, time.Now())
		w.settle(e, err)
		return
	}
	n := int32(len(parts))
	var p int32
	if e.rec.Key == nil {
		p = rand.Int32N(n)
	} else {
		p = PartitionWith(w.partitioner, e.rec.Key, n)
	}
	m := w.message(e)
	m.Partition = p
	i := int(p) % len(shards)
	e.shard.Store(int32(i) + 1)
	shards[i].in <- m
}
