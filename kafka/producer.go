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
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record to produce.
type Record struct {
	Topic   string
	Key     []byte // nil: random partition
	Headers []Header
	Value   []byte
	// Done, if not nil, is called exactly once with nil when Kafka
	// acknowledged the record (per producer.acks), or with the error that
	// failed it. It is called from a producer goroutine, never while the
	// producer holds a lock, and must not block (in particular it must not
	// wait on a Produce call: the window frees slots on the same goroutine).
	// Nil means fire-and-forget.
	Done func(error)
}

// ProducerStats is a snapshot of the producer's counters.
type ProducerStats struct {
	Produced uint64            // records acknowledged (Done(nil))
	Failed   map[string]uint64 // failed records by ErrorKind
	InFlight int               // records in the window: accepted, not yet returned by sarama
	Queued   int               // of those, records not yet handed to sarama
}

// asyncFactory opens a sarama producer; close releases what it opened
// besides the producer itself (the client).
type asyncFactory func(cfg *sarama.Config) (ap sarama.AsyncProducer, closeClient func() error, err error)

// Producer is the uplink: an asynchronous, bounded, ordered-per-key producer
// on top of sarama's AsyncProducer. See README.md.
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
	mu       sync.Mutex // guards pending
	pending  list.List  // *envelope not yet completed, in acceptance order
	produced atomic.Uint64
	failed   [len(errorKinds)]atomic.Uint64
}

type envelope struct {
	rec      *Record
	accepted time.Time
	elem     *list.Element // in Producer.pending; nil once completed; guarded by Producer.mu
	done     atomic.Bool
}

// NewProducer validates cfg and prepares a producer. It starts nothing.
func NewProducer(cfg Config, log *zap.Logger) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	scfg, err := cfg.producerConfig()
	if err != nil {
		return nil, fmt.Errorf("kafka producer config: %w", err)
	}
	n := cfg.Producer.BufferRecords
	return &Producer{
		cfg:             cfg,
		log:             log.With(zap.String("component", "kafka_producer")),
		scfg:            scfg,
		open:            openAsync(cfg.BootstrapServers),
		deliveryTimeout: ms(cfg.Producer.DeliveryTimeoutMs),
		slots:           make(chan struct{}, n),
		queue:           make(chan *envelope, n),
		closing:         make(chan struct{}),
	}, nil
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
// It blocks while the window (producer.buffer_records) is full and returns
// ctx's error if ctx ends first, or ErrClosed once Run is shutting down.
// Records accepted before Run connects wait in the window.
func (p *Producer) Produce(ctx context.Context, r *Record) error {
	if r == nil || r.Topic == "" {
		return errors.New("kafka: produce: record without topic")
	}
	p.gate.RLock()
	defer p.gate.RUnlock()
	if p.shut {
		return ErrClosed
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.closing:
		return ErrClosed
	}
	e := &envelope{rec: r}
	p.mu.Lock()
	e.accepted = time.Now()
	e.elem = p.pending.PushBack(e)
	p.mu.Unlock()
	p.queue <- e
	return nil
}

// Connected reports whether the producer has a client and its last
// delivery attempt did not fail for want of a reachable broker.
func (p *Producer) Connected() bool { return p.connect.Load() }

// Stats returns a snapshot of the counters.
func (p *Producer) Stats() ProducerStats {
	s := ProducerStats{
		Produced: p.produced.Load(),
		Failed:   make(map[string]uint64, len(errorKinds)),
		InFlight: len(p.slots),
		Queued:   len(p.queue),
	}
	for i, k := range errorKinds {
		s.Failed[k] = p.failed[i].Load()
	}
	return s
}

// Run connects (retrying with back-off while Kafka is unreachable), feeds
// accepted records to sarama and completes them. When ctx ends it stops
// accepting records, hands the queued ones over (or fails them with
// ErrClosed if it never connected), flushes sarama and returns nil once
// every record is completed and every goroutine it started has ended.
func (p *Producer) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("kafka: producer: Run called twice")
	}
	var wg sync.WaitGroup
	sweepStop := make(chan struct{})
	wg.Go(func() { p.sweep(sweepStop) })
	defer func() {
		close(sweepStop)
		wg.Wait()
	}()

	ap, closeClient := p.dial(ctx)
	if ap == nil { // ctx ended before we could connect
		p.stopAccepting()
		p.failQueued(ErrClosed)
		return nil
	}
	p.connect.Store(true)
	p.log.Info("kafka producer connected", zap.Strings("bootstrap_servers", p.cfg.BootstrapServers))

	var drainers sync.WaitGroup
	drainers.Go(func() {
		for m := range ap.Successes() {
			p.connect.Store(true)
			p.finish(m.Metadata.(*envelope), nil)
		}
	})
	drainers.Go(func() {
		for pe := range ap.Errors() {
			if ErrorKind(pe.Err) == KindUnreachable {
				p.connect.Store(false)
			}
			p.finish(pe.Msg.Metadata.(*envelope), pe.Err)
		}
	})

	p.feed(ctx, ap)

	p.stopAccepting()
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
	drainers.Wait()
	p.connect.Store(false)
	if err := closeClient(); err != nil {
		p.log.Warn("kafka producer: closing client", zap.Error(err))
	}
	return nil
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
			zap.Duration("backoff", backoff), zap.String("kind", ErrorKind(err)), zap.Error(err))
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
	m := &sarama.ProducerMessage{Topic: r.Topic, Metadata: e}
	if r.Key != nil {
		m.Key = sarama.ByteEncoder(r.Key)
	}
	if r.Value != nil {
		m.Value = sarama.ByteEncoder(r.Value)
	}
	if len(r.Headers) > 0 {
		m.Headers = make([]sarama.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			m.Headers[i] = sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
		}
	}
	return m
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

// finish completes e (if the sweeper did not already) and frees its slot.
func (p *Producer) finish(e *envelope, err error) {
	p.mu.Lock()
	if e.elem != nil {
		p.pending.Remove(e.elem)
		e.elem = nil
	}
	p.mu.Unlock()
	<-p.slots
	p.complete(e, err)
}

func (p *Producer) complete(e *envelope, err error) {
	if !e.done.CompareAndSwap(false, true) {
		return
	}
	if err == nil {
		p.produced.Add(1)
	} else {
		kind := ErrorKind(err)
		for i, k := range errorKinds {
			if k == kind {
				p.failed[i].Add(1)
			}
		}
	}
	if e.rec.Done != nil {
		e.rec.Done(err)
	}
	if p.onAck != nil {
		p.onAck(time.Since(e.accepted), err)
	}
}

// sweep fails records older than delivery_timeout_ms with
// ErrDeliveryTimeout. They keep their window slot until sarama returns them,
// so memory stays bounded during an outage.
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
		for el := p.pending.Front(); el != nil; el = p.pending.Front() {
			e := el.Value.(*envelope)
			if e.accepted.After(deadline) {
				break
			}
			p.pending.Remove(el)
			e.elem = nil
			expired = append(expired, e)
		}
		p.mu.Unlock()
		for i, e := range expired {
			p.complete(e, ErrDeliveryTimeout)
			expired[i] = nil
		}
		expired = expired[:0]
	}
}
