package kafka

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// asyncFactory opens a sarama producer; close releases what it opened
// besides the producer itself (the client).
type asyncFactory func(cfg *sarama.Config) (ap sarama.AsyncProducer, closeClient func() error, err error)

// window is the pipeline stage next to sarama: the bounded set of slots, the
// queue and the feeder into Input(), the pending list in acceptance order,
// the drainers of Successes() and Errors(), and the sweeper that fails
// records older than delivery_timeout_ms. Alone it is the whole producer
// (kafka.spool.enabled false); with the spool the spill sits in front of it
// and owns it.
//
// Lock: mu guards the pending list (and each envelope's elem). It is a leaf
// except for the owner's keep hook, which the sweeper calls under it. No
// lock is held while a record is answered.
type window struct {
	log       *zap.Logger
	bootstrap []string
	scfg      *sarama.Config
	open      asyncFactory

	deliveryTimeout time.Duration

	// slots is the window: a record holds a slot from Produce until sarama
	// returns it (or it is failed without being handed over).
	slots chan struct{}
	// queue holds accepted records not yet handed to sarama. Its capacity
	// equals slots', so a send after taking a slot never blocks.
	queue chan *envelope
	// closing is closed when the producer stops accepting records.
	closing <-chan struct{}

	connect atomic.Bool
	onAck   func(latency time.Duration, err error)

	// The producers (shard.go): how many, the partitioner the feeder uses
	// when there is more than one, and the partition metadata it asks
	// (feeder goroutine only).
	producers   int
	partitioner string
	parts       partitionLister

	// Kafka's answers, the health signal (stuck): from every producer
	// (answered), and per producer when there is more than one
	// (shardAnswers; nil with one).
	answered     answers
	shardAnswers []answers
	// Backpressure: Produce calls that found every slot taken and waited
	// (fullWaits), and those waiting now (waiting).
	fullWaits atomic.Uint64
	waiting   atomic.Int64

	mu       sync.Mutex
	pending  list.List // direct *envelope not yet returned or expired, in acceptance order
	produced atomic.Uint64
	failed   kindCounters

	// fastFail makes sarama's retry back-offs zero: set at shutdown when the
	// flush wait is over, so that sarama gives up quickly.
	fastFail atomic.Bool

	hkeys map[string][]byte // headerKey's cache; feeder goroutine only

	// The owner's hooks, set before Run.
	// settle completes a record sarama handed back (err nil: Kafka acked
	// it), or one that never reached sarama. It must call release.
	settle func(e *envelope, err error)
	// keep, if set, tells the sweeper to leave e alone (it has a spool
	// copy: its device is answered by the fsync). Called with mu held.
	keep func(e *envelope) bool
}

func newWindow(cfg Config, scfg *sarama.Config, log *zap.Logger, closing <-chan struct{}) *window {
	n := cfg.Producer.BufferRecords
	w := &window{
		log:             log,
		bootstrap:       cfg.BootstrapServers,
		scfg:            scfg,
		open:            openAsync(cfg.BootstrapServers),
		deliveryTimeout: ms(cfg.Producer.DeliveryTimeoutMs),
		slots:           make(chan struct{}, n),
		queue:           make(chan *envelope, n),
		closing:         closing,
		producers:       cfg.Producer.Producers,
		partitioner:     cfg.Producer.Partitioner,
	}
	if w.producers > 1 {
		w.shardAnswers = make([]answers, w.producers)
	}
	w.settle = w.settleAlone
	w.interruptibleBackoffs()
	return w
}

// interruptibleBackoffs wraps sarama's retry back-offs so that fastFail
// cuts them to zero at shutdown.
func (w *window) interruptibleBackoffs() {
	for _, f := range []*func(int, int) time.Duration{&w.scfg.Producer.Retry.BackoffFunc, &w.scfg.Metadata.Retry.BackoffFunc} {
		if inner := *f; inner != nil {
			*f = func(retries, max int) time.Duration {
				if w.fastFail.Load() {
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
		return clientProducer{AsyncProducer: ap, client: client}, client.Close, nil
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

// The window as the whole producer (the stage without the spool).

// produce blocks for a slot and enqueues r. Caller holds the front's gate (R).
func (w *window) produce(ctx context.Context, r *Record) (*envelope, error) {
	if !w.tryAcquire() {
		w.fullWaits.Add(1)
		w.waiting.Add(1)
		var err error
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			err = ctx.Err()
		case <-w.closing:
			err = ErrClosed
		}
		w.waiting.Add(-1)
		if err != nil {
			return nil, err
		}
	}
	e := w.enqueue(r)
	if r.Mode == AckNone {
		return e, nil
	}
	return nil, nil
}

func (w *window) run(ctx context.Context, stopAccepting func()) error {
	return w.serve(ctx, windowHooks{stopFeeding: stopAccepting})
}

func (w *window) state() string { return StateDirect }

func (w *window) stats(s *ProducerStats) {
	s.Produced = w.produced.Load()
	s.Failed = w.failed.snapshot()
	s.InFlight = len(w.slots)
	s.Queued = len(w.queue)
	s.WindowFull = w.fullWaits.Load()
	s.Waiting = int(w.waiting.Load())
}

func (w *window) setFsyncHook(func(time.Duration))       {}
func (w *window) onPermanentFailure(func(Record, error)) {}

// settleAlone completes a record when no spill owns the window.
func (w *window) settleAlone(e *envelope, err error) {
	w.release(e)
	w.complete(e, err)
}

// Slots and the pending list.

// tryAcquire takes a slot if one is free.
func (w *window) tryAcquire() bool {
	select {
	case w.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquire takes a slot, waiting until ctx ends.
func (w *window) acquire(ctx context.Context) bool {
	select {
	case w.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// enqueue adds r, which holds a slot, to the pending list and the queue.
func (w *window) enqueue(r *Record) *envelope {
	e := &envelope{rec: r, kind: envDirect}
	w.mu.Lock()
	e.accepted = time.Now()
	e.elem = w.pending.PushBack(e)
	w.mu.Unlock()
	w.queue <- e
	return e
}

// enqueueDrained adds a drained record, which holds a slot, to the queue.
// Drained records are not in the pending list: the spill watches them.
func (w *window) enqueueDrained(e *envelope) { w.queue <- e }

// release takes e out of the pending list and frees its slot.
func (w *window) release(e *envelope) {
	w.mu.Lock()
	if e.elem != nil {
		w.pending.Remove(e.elem)
		e.elem = nil
	}
	w.mu.Unlock()
	w.freeSlot()
}

func (w *window) freeSlot() { <-w.slots }

// eachPending calls f for every record in the pending list, oldest first,
// with mu held.
func (w *window) eachPending(f func(e *envelope)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for el := w.pending.Front(); el != nil; el = el.Next() {
		f(el.Value.(*envelope))
	}
}

// Kafka's health.

// noteAnswer records that sarama handed e back (with success or an error)
// through the producer whose answers src are. Called by the drainers for
// every record.
func (w *window) noteAnswer(src *answers, e *envelope, now time.Time) {
	acc, t := e.accepted.UnixNano(), now.UnixNano()
	if src != &w.answered {
		src.note(acc, t)
	}
	w.answered.note(acc, t)
}

// stuck reports whether Kafka stalled on e, which is still with it: it
// waited longer than after, and either Kafka answered nothing for that long
// (a hang: no response, success or error) or it answered records accepted
// more than after later (the record's partition or broker does not answer
// while the others do). A record that waits long while answers keep coming
// in acceptance order is overload, not a stall.
//
// The answers are those of e's producer once the feeder handed it to one
// (more than one producer): each producer answers in about acceptance order,
// but a producer that owns the partitions of the hot keys can lag behind the
// others by more than after under overload, and that is not a stall.
func (w *window) stuck(e *envelope, now time.Time, after time.Duration) bool {
	if now.Sub(e.accepted) <= after {
		return false
	}
	src := &w.answered
	if i := e.shard.Load(); i > 0 && len(w.shardAnswers) > 0 {
		src = &w.shardAnswers[i-1]
	}
	return src.stuck(e.accepted.UnixNano(), now.UnixNano(), after)
}

// stalled reports whether Kafka stalled on the oldest direct record still
// with it (stuck).
func (w *window) stalled(after time.Duration) bool {
	w.mu.Lock()
	var oldest *envelope
	if el := w.pending.Front(); el != nil {
		oldest = el.Value.(*envelope)
	}
	w.mu.Unlock()
	return oldest != nil && w.stuck(oldest, time.Now(), after)
}

// Outcomes.

// count records e's Kafka outcome in the counters, once; it reports
// whether this call was the one.
func (w *window) count(e *envelope, err error) bool {
	if !e.done.CompareAndSwap(false, true) {
		return false
	}
	if err == nil {
		w.produced.Add(1)
	} else {
		w.failed.add(kindOf(err))
	}
	return true
}

// complete counts e's outcome and answers it.
func (w *window) complete(e *envelope, err error) {
	if w.count(e, err) {
		w.answer(e, err)
	}
}

// answer calls e's Done (and the ack hook) once; it reports whether this
// call was the one. Never called with a producer lock held.
func (w *window) answer(e *envelope, err error) bool {
	if !e.answered.CompareAndSwap(false, true) {
		return false
	}
	if e.rec.Done != nil {
		e.rec.Done(err)
	}
	if w.onAck != nil {
		w.onAck(time.Since(e.accepted), err)
	}
	return true
}

// Lifecycle.

// windowHooks let the owner act at the window's lifecycle steps.
type windowHooks struct {
	// connected, if set, runs once sarama's producer is up and its return
	// channels are drained (the spill starts its drainer here).
	connected func()
	// stopFeeding runs when ctx has ended, before the queue is flushed into
	// sarama: once it returns, no record may enter the queue.
	stopFeeding func()
	// flushBound bounds the wait for sarama at shutdown; 0 waits as long as
	// sarama takes (up to delivery_timeout_ms while Kafka is down).
	flushBound time.Duration
}

// serve connects the producers (retrying with back-off while Kafka is
// unreachable), feeds the queue to sarama and completes what it hands back,
// until ctx ends. Then it stops the feeding, hands the queued records over
// (or fails them with ErrClosed if it never connected), flushes sarama and
// returns once every goroutine it started has ended.
func (w *window) serve(ctx context.Context, h windowHooks) error {
	sweepStop := make(chan struct{})
	var sweeper sync.WaitGroup
	sweeper.Go(func() { w.sweep(sweepStop) })
	defer func() {
		close(sweepStop)
		sweeper.Wait()
	}()

	shards, err := w.dialShards(ctx)
	if shards == nil { // ctx ended before we could connect
		h.stopFeeding()
		w.failQueued(ErrClosed)
		return err
	}
	w.connect.Store(true)
	w.log.Info("kafka producer connected", zap.Strings("bootstrap_servers", w.bootstrap), zap.Int("producers", len(shards)))
	var clientOnce sync.Once
	closeClients := func() {
		clientOnce.Do(func() {
			for _, s := range shards {
				if err := s.closeClient(); err != nil {
					w.log.Warn("kafka producer: closing client", zap.Error(err))
				}
			}
		})
	}

	var flush sync.WaitGroup // the drainers, and the inputs of more than one producer
	for i, s := range shards {
		w.startShard(&flush, i, s)
	}
	if h.connected != nil {
		h.connected()
	}

	w.feed(ctx, shards)

	h.stopFeeding()
	flush.Go(func() { w.handQueued(shards) })
	w.awaitFlush(&flush, closeClients, h.flushBound)
	w.connect.Store(false)
	closeClients()
	return nil
}

// handQueued hands the records still queued at shutdown to sarama, then
// closes the producers' inputs, so that sarama flushes and closes its
// return channels. It runs after stopFeeding: nothing enters the queue any
// more.
func (w *window) handQueued(shards []*shard) {
	for {
		select {
		case e := <-w.queue:
			if len(shards) == 1 {
				shards[0].ap.Input() <- w.message(e)
			} else {
				w.route(e, shards)
			}
			continue
		default:
		}
		break
	}
	for _, s := range shards {
		if s.in == nil {
			s.ap.AsyncClose()
		} else {
			close(s.in)
		}
	}
}

// awaitFlush waits for sarama to hand back every record. With a bound (the
// spill: everything acked is in the spool already) it waits at most that
// long: then sarama's back-offs are cut and its client is closed, so the
// remaining records fail fast (the spill copies direct records whose
// devices still wait on the way, and drained records stay in the spool for
// the next run).
func (w *window) awaitFlush(drainers *sync.WaitGroup, closeClient func(), bound time.Duration) {
	if bound <= 0 {
		drainers.Wait()
		return
	}
	flushed := make(chan struct{})
	go func() { // ends when the drainers do, which serve waits for below
		drainers.Wait()
		close(flushed)
	}()
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-flushed:
		return
	case <-t.C:
	}
	w.log.Warn("kafka producer: records still with Kafka at shutdown; failing them fast (acked records are in the spool)",
		zap.Duration("waited", bound), zap.Int("in_flight", len(w.slots)))
	w.fastFail.Store(true)
	closeClient()
	<-flushed
}

// dial opens the sarama producer, retrying with back-off until ctx ends.
func (w *window) dial(ctx context.Context) (sarama.AsyncProducer, func() error) {
	backoff := 250 * time.Millisecond
	var cause causeLog
	for attempt := 1; ; attempt++ {
		ap, closeClient, err := w.open(w.scfg)
		if err == nil {
			if attempt > 1 {
				w.log.Info("kafka producer connected", zap.Int("attempts", attempt))
			}
			return ap, closeClient
		}
		kind := kindOf(err)
		w.log.Log(cause.level(kind.String()), "kafka unreachable, retrying", zap.Int("attempt", attempt),
			zap.Duration("backoff", backoff), zap.Stringer("kind", kind), zap.Error(err))
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

// feed moves accepted records into sarama until ctx ends. With one
// producer it is the only goroutine that sends on Input(); with more it
// routes each record to the input of the producer that owns its partition.
func (w *window) feed(ctx context.Context, shards []*shard) {
	if len(shards) > 1 {
		for {
			select {
			case e := <-w.queue:
				w.route(e, shards)
			case <-ctx.Done():
				return
			}
		}
	}
	ap := shards[0].ap
	for {
		select {
		case e := <-w.queue:
			select {
			case ap.Input() <- w.message(e):
			case <-ctx.Done():
				ap.Input() <- w.message(e) // drainers keep sarama moving
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (w *window) message(e *envelope) *sarama.ProducerMessage {
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
			m.Headers[i] = sarama.RecordHeader{Key: w.headerKey(h.Key), Value: h.Value}
		}
	}
	return m
}

// headerKeyCacheMax bounds the header key cache: keys are few and fixed
// (mqtt.topic, mqtt.client_id, ...) unless user properties vary per device.
const headerKeyCacheMax = 256

// headerKey returns k as bytes, shared between records: sarama only reads
// header keys, and the same few keys come with every record, so this saves
// an allocation per header. Called by the feeder goroutine only (and by
// handQueued after it).
func (w *window) headerKey(k string) []byte {
	if b, ok := w.hkeys[k]; ok {
		return b
	}
	b := []byte(k)
	if w.hkeys == nil {
		w.hkeys = make(map[string][]byte)
	}
	if len(w.hkeys) < headerKeyCacheMax {
		w.hkeys[k] = b
	}
	return b
}

func (w *window) failQueued(err error) {
	for {
		select {
		case e := <-w.queue:
			w.settle(e, err)
		default:
			return
		}
	}
}

// sweep fails records older than delivery_timeout_ms with
// ErrDeliveryTimeout. They keep their window slot until sarama returns them,
// so memory stays bounded during an outage. A record the owner keeps (it
// has, or is getting, a spool copy) is left alone.
func (w *window) sweep(stop <-chan struct{}) {
	every := min(max(w.deliveryTimeout/20, 10*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	var expired []*envelope
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		}
		deadline := time.Now().Add(-w.deliveryTimeout)
		w.mu.Lock()
		for el := w.pending.Front(); el != nil; {
			e := el.Value.(*envelope)
			if e.accepted.After(deadline) {
				break
			}
			next := el.Next()
			if w.keep == nil || !w.keep(e) {
				w.pending.Remove(el)
				e.elem = nil
				expired = append(expired, e)
			}
			el = next
		}
		w.mu.Unlock()
		for i, e := range expired {
			w.complete(e, ErrDeliveryTimeout)
			expired[i] = nil
		}
		expired = expired[:0]
	}
}
