package kafka

import (
	"context"
	"errors"
	"fmt"
	"go.uber.org/zap"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka/spool"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// AckMode says when a record counts as safe, that is when Done(nil) fires.
// It only matters with the spool enabled (kafka.spool.enabled); without it
// every mode behaves as AckKafka, except that AckNone still gets Done(nil)
// at once.
type AckMode uint8

const (
	// AckKafka is the hybrid path (the default): Done(nil) once Kafka acked
	// the record, or once the spool's fsync covers it after it spilled.
	AckKafka AckMode = iota
	// AckSpool is write-ahead: the record always goes through the spool and
	// Done(nil) fires after the fsync that covers it; the drainer forwards it.
	AckSpool
	// AckNone is at most once: Done(nil) fires at once. The record is sent
	// fire-and-forget while the producer is direct and shed (counted)
	// otherwise.
	AckNone
)

// String returns kafka, spool or none (the mapping rules' names).
func (m AckMode) String() string {
	switch m {
	case AckKafka:
		return "kafka"
	case AckSpool:
		return "spool"
	case AckNone:
		return "none"
	}
	return fmt.Sprintf("AckMode(%d)", uint8(m))
}

// Record is one record to produce.
type Record struct {
	Topic   string
	Key     []byte // nil: random partition
	Headers []Header
	Value   []byte
	// Mode says when Done(nil) may fire; see AckMode. Zero is AckKafka.
	Mode AckMode
	// Done, if not nil, is called exactly once with nil when the record is
	// safe (Kafka acknowledged it per producer.acks, or the spool's fsync
	// covers it; see Mode), or with the error that failed it. It is called
	// from a producer or spool goroutine, never while the producer holds a
	// lock, and must not block (in particular it must not wait on a Produce
	// call: the window frees slots on the same goroutine).
	// Nil means fire-and-forget (MQTT QoS 0): such records are shed when the
	// window and the spool are both full (kafka.producer.qos0_when_full).
	Done func(error)
}

// ProducerStats is a snapshot of the producer's counters.
type ProducerStats struct {
	Produced uint64            // records acknowledged by Kafka on the direct path
	Failed   map[string]uint64 // records Kafka failed, by ErrorKind (drained ones included)
	InFlight int               // records in the window: accepted, not yet returned by sarama
	Queued   int               // of those, records not yet handed to sarama
	// Backpressure (overload, not an outage): Kafka answers, but slower than
	// the load, so the window is full and Produce waits for a slot.
	WindowFull uint64 // Produce calls that found the window full and waited
	Waiting    int    // Produce calls waiting for a window slot now

	// The hybrid path (zero while kafka.spool.enabled is false).
	State        string            // StateDirect, StateSpilling, StateDraining or StateBlocked
	Spills       uint64            // DIRECT → SPILLING transitions
	SpillReasons map[string]uint64 // Spills by reason (SpillAckSpool, SpillNotConnected, SpillKafkaSlow, SpillKafkaError)
	SpillReason  string            // the reason of the latest spill; "" before the first
	Spilled      uint64            // records made durable in the spool (new records and copies of in-flight ones)
	Drained      uint64            // spooled records delivered to Kafka by the drainer
	Replayed     uint64            // of Drained, records left in the spool by an earlier run (possible duplicates)
	Dropped      map[string]uint64 // records dropped, by reason (DropShedQoS0, DropShedAckNone, DropUndecodable)
	SpoolFailed  map[string]uint64 // spooled records Kafka refused for good, by ErrorKind (handed to OnPermanentFailure)
	Spool        spool.Stats       // records, bytes, oldest age, quota, fsyncs
}

// Producer is the uplink: an asynchronous, bounded, ordered-per-key producer
// on top of sarama's AsyncProducer, with an optional disk spool behind it
// (the hybrid path). See README.md.
//
// It is a thin front over a pipeline stage chosen in NewProducer: the window
// alone (kafka.spool.enabled false), or the spill over a window. Its one
// lock, gate, orders Produce against shutdown; every lock of the stages is
// taken under it.
type Producer struct {
	gate    sync.RWMutex // Produce holds R while it hands a record on; shutdown takes W
	shut    bool         // guarded by gate
	closing chan struct{}
	started atomic.Bool

	w     *window // always: the sarama side
	stage stage   // w itself, or the spill that owns w
}

// stage is the pipeline behind the front.
type stage interface {
	// produce accepts r; the front holds its gate (R) around the call. It
	// returns an AckNone record's envelope, to be answered once the gate is
	// released.
	produce(ctx context.Context, r *Record) (ackNow *envelope, err error)
	// run runs the stage until ctx ends and every goroutine it started
	// has ended. stopAccepting closes the front's gate.
	run(ctx context.Context, stopAccepting func()) error
	state() string
	stats(s *ProducerStats)
	setFsyncHook(f func(time.Duration))
	onPermanentFailure(f func(Record, error))
}

var (
	_ stage = (*window)(nil)
	_ stage = (*spill)(nil)
)

// NewProducer validates cfg and prepares a producer. It starts nothing. With
// kafka.spool.enabled it opens the spool directory (recovering what an
// earlier run left there), so that records accepted before Run can already
// spill; Run closes it.
func NewProducer(cfg Config, log *zap.Logger) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	scfg, err := cfg.producerConfig()
	if err != nil {
		return nil, fmt.Errorf("kafka producer config: %w", err)
	}
	log = log.With(zap.String("component", "kafka_producer"))
	p := &Producer{closing: make(chan struct{})}
	p.w = newWindow(cfg, scfg, log, p.closing)
	p.stage = p.w
	if cfg.Spool.Enabled {
		sp, err := newSpill(cfg, p.w, log, p.closing)
		if err != nil {
			return nil, err
		}
		p.stage = sp
	}
	return p, nil
}

// SetAckHook installs f, called after every Done with the time since
// Produce accepted the record (for latency histograms). Call before Run.
func (p *Producer) SetAckHook(f func(latency time.Duration, err error)) { p.w.onAck = f }

// SetFsyncHook installs f, called after each spool fsync with its latency
// (for a histogram). No-op without the spool. Call before Run.
func (p *Producer) SetFsyncHook(f func(time.Duration)) { p.stage.setFsyncHook(f) }

// OnPermanentFailure installs f, called with a spooled record that Kafka
// refused for good (too_large, invalid_topic, not_authorized; or an
// unclassified error, maxOtherFailures times). Its device was acked when it
// spilled, so it must not vanish in silence: the bridge dead-letters it. The
// record is then acked in the spool. f runs on a producer goroutine and must
// not block or call Produce. Unused without the spool. Call before Run.
func (p *Producer) OnPermanentFailure(f func(Record, error)) { p.stage.onPermanentFailure(f) }

// Produce hands r to the producer and returns without waiting for Kafka.
//
// Without the spool it blocks while the window (producer.buffer_records) is
// full. With the spool (the hybrid path, README.md) it routes r to the window
// or to the spool and blocks only while both are full (state blocked); a
// record without Done is then shed unless producer.qos0_when_full=block.
//
// It returns ctx's error if ctx ends first, or ErrClosed once Run is
// shutting down. Records accepted before Run connects wait in the window (or
// spill). An AckNone record gets Done(nil) before Produce returns.
func (p *Producer) Produce(ctx context.Context, r *Record) error {
	if r == nil || r.Topic == "" {
		return errors.New("kafka: produce: record without topic")
	}
	ackNow, err := p.produce(ctx, r)
	if ackNow != nil {
		p.w.answer(ackNow, nil)
	}
	return err
}

// produce hands r to the stage under the gate.
func (p *Producer) produce(ctx context.Context, r *Record) (*envelope, error) {
	p.gate.RLock()
	defer p.gate.RUnlock()
	if p.shut {
		return nil, ErrClosed
	}
	return p.stage.produce(ctx, r)
}

// Connected reports whether the producer has a client and its last
// delivery attempt did not fail for want of a reachable broker.
func (p *Producer) Connected() bool { return p.w.connect.Load() }

// State returns StateDirect, StateSpilling, StateDraining or StateBlocked.
// Without the spool it is always StateDirect.
func (p *Producer) State() string { return p.stage.state() }

// Stats returns a snapshot of the counters.
func (p *Producer) Stats() ProducerStats {
	var s ProducerStats
	p.stage.stats(&s)
	s.State = p.State()
	return s
}

// Run connects (retrying with back-off while Kafka is unreachable), feeds
// accepted records to sarama and completes them. When ctx ends it stops
// accepting records, hands the queued ones over (or fails them with
// ErrClosed if it never connected), flushes sarama and returns nil once
// every record is completed and every goroutine it started has ended. With
// the spool it also runs the spool, the drainer and the spill monitor, bounds
// the flush wait (everything acked is in the spool already), and closes the
// spool last.
func (p *Producer) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("kafka: producer: Run called twice")
	}
	return p.stage.run(ctx, p.stopAccepting)
}

// stopAccepting makes Produce return ErrClosed; after it returns no record
// is added to the queue or the spool by Produce any more.
func (p *Producer) stopAccepting() {
	close(p.closing)
	p.gate.Lock()
	p.shut = true
	p.gate.Unlock()
}
