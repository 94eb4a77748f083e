package kafka

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

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

	// The hybrid path (zero while kafka.spool.enabled is false).
	State       string            // StateDirect, StateSpilling, StateDraining or StateBlocked
	Spills      uint64            // DIRECT → SPILLING transitions
	Spilled     uint64            // records made durable in the spool (new records and copies of in-flight ones)
	Drained     uint64            // spooled records delivered to Kafka by the drainer
	Replayed    uint64            // of Drained, records left in the spool by an earlier run (possible duplicates)
	Dropped     map[string]uint64 // records dropped, by reason (DropShedQoS0, DropShedAckNone, DropUndecodable)
	SpoolFailed map[string]uint64 // spooled records Kafka refused for good, by ErrorKind (handed to OnPermanentFailure)
	Spool       spool.Stats       // records, bytes, oldest age, quota, fsyncs
}

// asyncFactory opens a sarama producer; close releases what it opened
// besides the producer itself (the client).
type asyncFactory func(cfg *sarama.Config) (ap sarama.AsyncProducer, closeClient func() error, err error)

// Producer is the uplink: an asynchronous, bounded, ordered-per-key producer
// on top of sarama's AsyncProducer, with an optional disk spool behind it
// (the hybrid path). See README.md.
type Producer struct {
	cfg  Config
	log  *zap.Logger
	scfg *sarama.Config
	open asyncFactory

	deliveryTimeout time.Duration

	// slots is the window: a record holds a slot from Produce until sarama
	// returns it (or it is failed without being handed over).
	slots chan struct{}
	// queue holds accepted records not yet handed to sarama. Its capacity
	// equals slots', so a send after taking a slot never blocks.
	queue chan *envelope

	gate     sync.RWMutex // Produce holds R while enqueueing; shutdown takes W
	shut     bool         // guarded by gate
	closing  chan struct{}
	started  atomic.Bool
	connect  atomic.Bool
	onAck    func(latency time.Duration, err error)
	mu       sync.Mutex // guards pending and every envelope's copy state
	pending  list.List  // direct *envelope not yet returned or expired, in acceptance order
	produced atomic.Uint64
	failed   kindCounters

	// fastFail makes sarama's retry back-offs zero: set at shutdown when the
	// flush wait is over, so that sarama gives up quickly.
	fastFail atomic.Bool

	hkeys map[string][]byte // headerKey's cache; feeder goroutine only

	hybrid // the spool path; sp == nil when kafka.spool.enabled is false
}

type envKind uint8

const (
	envDirect  envKind = iota // from Produce, through the window
	envDrained                // read back from the spool by the drainer
	envSpooled                // from Produce, appended to the spool (never in the window)
)

type envelope struct {
	rec      *Record
	accepted time.Time
	kind     envKind
	elem     *list.Element // in Producer.pending; nil once returned or expired; guarded by Producer.mu
	done     atomic.Bool   // the Kafka outcome was counted (Produced/Failed)
	answered atomic.Bool   // rec.Done and the ack hook ran

	// Copy state of a direct record on the hybrid path; guarded by Producer.mu.
	copy     copyState
	copySeq  uint64 // with copyDurable
	returned bool   // sarama handed it back ...
	retErr   error  // ... with this error

	// Drained records.
	seq, after uint64    // its spool seq, and the `after` that Next returned it for
	ts         time.Time // the acceptance time stored in the spool
	replay     bool      // left in the spool by an earlier run
	resolved   bool      // acked in the spool (delivered or refused for good); guarded by hybrid.dmu
}

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
	n := cfg.Producer.BufferRecords
	p := &Producer{
		cfg:             cfg,
		log:             log.With(zap.String("component", "kafka_producer")),
		scfg:            scfg,
		open:            openAsync(cfg.BootstrapServers),
		deliveryTimeout: ms(cfg.Producer.DeliveryTimeoutMs),
		slots:           make(chan struct{}, n),
		queue:           make(chan *envelope, n),
		closing:         make(chan struct{}),
	}
	p.interruptibleBackoffs()
	if cfg.Spool.Enabled {
		if err := p.initHybrid(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// interruptibleBackoffs wraps sarama's retry back-offs so that fastFail
// cuts them to zero at shutdown.
func (p *Producer) interruptibleBackoffs() {
	for _, f := range []*func(int, int) time.Duration{&p.scfg.Producer.Retry.BackoffFunc, &p.scfg.Metadata.Retry.BackoffFunc} {
		if inner := *f; inner != nil {
			*f = func(retries, max int) time.Duration {
				if p.fastFail.Load() {
					return 0
				}
				return inner(retries, max)
			}
		}
	}
}

func openAsync(addrs []string) asyncFactory {
	return func(cfg *sarama.Config) (sarama.AsyncProducer, func() error, error) {
		if err := probe(addrs, cfg); err != nil {
			return nil, nil, err
		}
		client, err := sarama.NewClient(addrs, cfg)
		if err != nil {
			return nil, nil, err
		}
		ap, err := sarama.NewAsyncProducerFromClient(client)
		if err != nil {
			_ = client.Close()
			return nil, nil, err
		}
		return ap, client.Close, nil
	}
}

// probe checks that the cluster answers a metadata request, with the
// client's default short metadata retries (the producer's own client
// retries metadata for up to the delivery timeout).
func probe(addrs []string, cfg *sarama.Config) error {
	pc := *cfg
	pc.Metadata.Retry.Max = 1
	pc.Metadata.Retry.BackoffFunc = nil
	pc.Metadata.Timeout = 0
	pc.Metadata.Full = false
	c, err := sarama.NewClient(addrs, &pc)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.RefreshMetadata()
}

// SetAckHook installs f, called after every Done with the time since
// Produce accepted the record (for latency histograms). Call before Run.
func (p *Producer) SetAckHook(f func(latency time.Duration, err error)) { p.onAck = f }

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
		p.answer(ackNow, nil)
	}
	return err
}

// produce routes r under the gate; it returns an envelope to answer (AckNone)
// once the gate is released.
func (p *Producer) produce(ctx context.Context, r *Record) (*envelope, error) {
	p.gate.RLock()
	defer p.gate.RUnlock()
	if p.shut {
		return nil, ErrClosed
	}
	if p.sp != nil {
		return p.produceHybrid(ctx, r)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.closing:
		return nil, ErrClosed
	}
	e := p.enqueue(r)
	if r.Mode == AckNone {
		return e, nil
	}
	return nil, nil
}

// enqueue adds r, which holds a slot, to the pending list and the queue.
func (p *Producer) enqueue(r *Record) *envelope {
	e := &envelope{rec: r, kind: envDirect}
	p.mu.Lock()
	e.accepted = time.Now()
	e.elem = p.pending.PushBack(e)
	p.mu.Unlock()
	p.queue <- e
	return e
}

// Connected reports whether the producer has a client and its last
// delivery attempt did not fail for want of a reachable broker.
func (p *Producer) Connected() bool { return p.connect.Load() }

// Stats returns a snapshot of the counters.
func (p *Producer) Stats() ProducerStats {
	s := ProducerStats{
		Produced: p.produced.Load(),
		Failed:   p.failed.snapshot(),
		InFlight: len(p.slots),
		Queued:   len(p.queue),
		State:    p.State(),
	}
	p.hybridStats(&s)
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
	var wg sync.WaitGroup
	sweepStop := make(chan struct{})
	wg.Go(func() { p.sweep(sweepStop) })
	var spoolWG sync.WaitGroup
	spoolCtx, spoolCancel := context.WithCancel(context.WithoutCancel(ctx))
	if p.sp != nil {
		spoolWG.Go(func() {
			if err := p.sp.Run(spoolCtx); err != nil {
				p.log.Error("kafka producer: spool stopped with an error", zap.Error(err))
			}
		})
		wg.Go(func() { p.monitor(sweepStop) })
	}
	defer func() {
		close(sweepStop)
		wg.Wait()
		if p.sp != nil {
			p.failBacklog(ErrClosed)
		}
		spoolCancel() // last: the final fsync covers every append
		spoolWG.Wait()
	}()

	ap, closeClient := p.dial(ctx)
	if ap == nil { // ctx ended before we could connect
		p.stopAccepting()
		p.failQueued(ErrClosed)
		return nil
	}
	p.connect.Store(true)
	p.log.Info("kafka producer connected", zap.Strings("bootstrap_servers", p.cfg.BootstrapServers))
	var clientOnce sync.Once
	closeOnce := func() {
		clientOnce.Do(func() {
			if err := closeClient(); err != nil {
				p.log.Warn("kafka producer: closing client", zap.Error(err))
			}
		})
	}

	var drainers sync.WaitGroup
	drainers.Go(func() {
		for m := range ap.Successes() {
			p.connect.Store(true)
			p.finish(m.Metadata.(*envelope), nil)
		}
	})
	drainers.Go(func() {
		for pe := range ap.Errors() {
			if kindOf(pe.Err) == kindUnreachable {
				p.connect.Store(false)
			}
			p.finish(pe.Msg.Metadata.(*envelope), pe.Err)
		}
	})
	var drainLoop sync.WaitGroup
	if p.sp != nil {
		drainLoop.Go(func() { p.drainLoop(ctx) })
	}

	p.feed(ctx, ap)

	p.stopAccepting()
	drainLoop.Wait()
	for {
		select {
		case e := <-p.queue:
			ap.Input() <- p.message(e)
			continue
		default:
		}
		break
	}
	ap.AsyncClose() // flushes what sarama holds, then closes both channels
	p.awaitFlush(&drainers, closeOnce)
	p.connect.Store(false)
	closeOnce()
	return nil
}

// awaitFlush waits for sarama to hand back every record. Without the spool
// that can take delivery_timeout_ms while Kafka is down. With it the wait is
// bounded by shutdownFlush: then sarama's back-offs are cut and its client is
// closed, so the remaining records fail fast; direct records whose devices
// still wait are copied to the spool on the way (finish), and drained
// records stay in the spool for the next run.
func (p *Producer) awaitFlush(drainers *sync.WaitGroup, closeClient func()) {
	if p.sp == nil {
		drainers.Wait()
		return
	}
	flushed := make(chan struct{})
	go func() { // ends when the drainers do, which Run waits for below
		drainers.Wait()
		close(flushed)
	}()
	t := time.NewTimer(shutdownFlush)
	defer t.Stop()
	select {
	case <-flushed:
		return
	case <-t.C:
	}
	p.log.Warn("kafka producer: records still with Kafka at shutdown; failing them fast (acked records are in the spool)",
		zap.Duration("waited", shutdownFlush), zap.Int("in_flight", len(p.slots)))
	p.fastFail.Store(true)
	closeClient()
	<-flushed
}

// dial opens the sarama producer, retrying with back-off until ctx ends.
func (p *Producer) dial(ctx context.Context) (sarama.AsyncProducer, func() error) {
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ap, closeClient, err := p.open(p.scfg)
		if err == nil {
			return ap, closeClient
		}
		p.log.Warn("kafka unreachable, retrying", zap.Int("attempt", attempt),
			zap.Duration("backoff", backoff), zap.Stringer("kind", kindOf(err)), zap.Error(err))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, nil
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// feed moves accepted records into sarama until ctx ends. It is the only
// goroutine that sends on Input().
func (p *Producer) feed(ctx context.Context, ap sarama.AsyncProducer) {
	for {
		select {
		case e := <-p.queue:
			select {
			case ap.Input() <- p.message(e):
			case <-ctx.Done():
				ap.Input() <- p.message(e) // drainers keep sarama moving
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (p *Producer) message(e *envelope) *sarama.ProducerMessage {
	r := e.rec
	m := &sarama.ProducerMessage{Topic: r.Topic, Metadata: e, Timestamp: e.ts}
	if r.Key != nil {
		m.Key = sarama.ByteEncoder(r.Key)
	}
	if r.Value != nil {
		m.Value = sarama.ByteEncoder(r.Value)
	}
	if len(r.Headers) > 0 {
		m.Headers = make([]sarama.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = sarama.RecordHeader{Key: p.headerKey(h.Key), Value: h.Value}
		}
	}
	return m
}

// headerKeyCacheMax bounds the header key cache: keys are few and fixed
// (mqtt.topic, mqtt.client_id, ...) unless user properties vary per device.
const headerKeyCacheMax = 256

// headerKey returns k as bytes, shared between records: sarama only reads
// header keys, and the same few keys come with every record, so this saves
// an allocation per header. Called by the feeder goroutine only.
func (p *Producer) headerKey(k string) []byte {
	if b, ok := p.hkeys[k]; ok {
		return b
	}
	b := []byte(k)
	if p.hkeys == nil {
		p.hkeys = make(map[string][]byte)
	}
	if len(p.hkeys) < headerKeyCacheMax {
		p.hkeys[k] = b
	}
	return b
}

// stopAccepting makes Produce return ErrClosed; after it returns no record
// is added to the queue any more.
func (p *Producer) stopAccepting() {
	close(p.closing)
	p.gate.Lock()
	p.shut = true
	p.gate.Unlock()
}

func (p *Producer) failQueued(err error) {
	for {
		select {
		case e := <-p.queue:
			p.finish(e, err)
		default:
			return
		}
	}
}

// finish handles a record sarama handed back (or that never reached it):
// frees its slot and completes it.
func (p *Producer) finish(e *envelope, err error) {
	if e.kind == envDrained {
		p.finishDrained(e, err)
		return
	}
	if p.sp != nil && err != nil && !permanent(err) {
		p.spillOnFailure(e)
	}
	p.mu.Lock()
	if e.elem != nil {
		p.pending.Remove(e.elem)
		e.elem = nil
	}
	e.returned, e.retErr = true, err
	cs, copySeq := e.copy, e.copySeq
	if cs == copyBacklog && (err == nil || permanent(err)) {
		e.copy = copyNone // no copy needed any more
	}
	p.mu.Unlock()
	<-p.slots
	if p.sp == nil {
		p.complete(e, err)
		return
	}
	p.finishDirect(e, err, cs, copySeq)
}

// count records e's Kafka outcome in the counters, once.
func (p *Producer) count(e *envelope, err error) {
	if !e.done.CompareAndSwap(false, true) {
		return
	}
	if err == nil {
		p.produced.Add(1)
		return
	}
	p.failed.add(kindOf(err))
}

// complete counts e's outcome and answers it.
func (p *Producer) complete(e *envelope, err error) {
	if !e.done.CompareAndSwap(false, true) {
		return
	}
	if err == nil {
		p.produced.Add(1)
	} else {
		p.failed.add(kindOf(err))
	}
	p.answer(e, err)
}

// answer calls e's Done (and the ack hook) once; it reports whether this
// call was the one. Never called with a producer lock held.
func (p *Producer) answer(e *envelope, err error) bool {
	if !e.answered.CompareAndSwap(false, true) {
		return false
	}
	if e.rec.Done != nil {
		e.rec.Done(err)
	}
	if p.onAck != nil {
		p.onAck(time.Since(e.accepted), err)
	}
	return true
}

// sweep fails records older than delivery_timeout_ms with
// ErrDeliveryTimeout. They keep their window slot until sarama returns them,
// so memory stays bounded during an outage. A record that has (or is getting)
// a spool copy is left alone: its device is answered by the fsync.
func (p *Producer) sweep(stop <-chan struct{}) {
	every := min(max(p.deliveryTimeout/20, 10*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	var expired []*envelope
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		}
		deadline := time.Now().Add(-p.deliveryTimeout)
		p.mu.Lock()
		for el := p.pending.Front(); el != nil; {
			e := el.Value.(*envelope)
			if e.accepted.After(deadline) {
				break
			}
			next := el.Next()
			if e.copy == copyNone {
				p.pending.Remove(el)
				e.elem = nil
				expired = append(expired, e)
			}
			el = next
		}
		p.mu.Unlock()
		for i, e := range expired {
			p.complete(e, ErrDeliveryTimeout)
			expired[i] = nil
		}
		expired = expired[:0]
	}
}
