package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka/spool"
)

const (
	// shutdownFlush bounds the wait for sarama at shutdown with the spool on.
	shutdownFlush = 3 * time.Second
	// probeTimeout bounds the drainer's health probe (dial, read, write).
	probeTimeout = 3 * time.Second
	// drainBackoffMin and drainBackoffMax bound the drainer's back-off
	// after a failed probe or a failed drained record.
	drainBackoffMin = 100 * time.Millisecond
	drainBackoffMax = 10 * time.Second
	// maxOtherFailures is how often a drained record may fail with an
	// unclassified error (ErrorKind "other") before it counts as refused
	// for good, so that one poison record cannot stop the drain forever.
	maxOtherFailures = 5
)

type route uint8

const (
	routeDirect route = iota
	routeSpool
)

// copyState is where a direct record stands with its spool copy.
type copyState uint8

const (
	copyNone      copyState = iota // no copy
	copyBacklog                    // to be copied (the spill started; waiting for quota room)
	copyAppending                  // appended, fsync pending
	copyDurable                    // durable in the spool as copySeq; its device was answered
)

// hybrid is the producer's spool path. Lock order: Producer.gate (R) →
// rmu → Producer.mu → dmu; the spool's own lock is a leaf. No lock is held
// while a Done callback runs.
type hybrid struct {
	sp         *spool.Spool
	spillAfter time.Duration
	blockQoS0  bool
	tick       time.Duration       // monitor period
	check      func() error        // health probe before draining
	onPerm     func(Record, error) // OnPermanentFailure
	replayLeft int64               // drainer only: records on disk at Open not yet read back
	replayMax  uint64              // drainer only: highest seq counted as replayed

	rmu                    sync.Mutex // guards the fields below up to dmu, and orders spool appends
	route                  route
	draining               bool          // the drainer may send (gate open, probe passed)
	needProbe              bool          // probe Kafka before draining again
	backlog                []*envelope   // direct records to copy, in acceptance order
	blocked                int           // Produce calls waiting for room
	room                   chan struct{} // closed (and replaced) by the monitor and maybeDirect to wake blocked Produce calls
	direct                 chan struct{} // closed (and replaced) when the route returns to direct or the drain stalls: ends the catching-up holds
	converge               int64         // the drainer has caught up when at most this many records are unacked
	backoffMin, backoffMax time.Duration // the drainer's back-off bounds (drainBackoffMin/Max; tests shorten them)

	state      atomic.Uint32 // spillState; for State() without a lock
	directHeld atomic.Int64  // direct records holding a slot (in the queue or with sarama)
	copying    atomic.Int64  // copies appended whose fsync has not answered yet
	kick       chan struct{}
	backoff    atomic.Int64 // drainer back-off, reset by a delivered record

	dmu        sync.Mutex
	dq         []*envelope // drained records in send order, from the first unresolved one
	dInflight  int         // drained records with sarama
	rewind     bool        // a drained record failed, or the drain stalled: resend from the first unresolved one
	stalled    bool        // the rewind is for a stall (drainStalledLocked), not a failure
	nextCancel func()      // wakes the drainer from spool.Next when a rewind is asked for
	otherFails map[uint64]int

	spills, spilled, drained, replayed atomic.Uint64
	dropped                            dropCounters
	spoolFailed                        kindCounters
}

// initHybrid opens the spool. An earlier run's records make the producer
// start in the spill route, so that they reach Kafka before any new record.
func (p *Producer) initHybrid() error {
	sp, err := spool.Open(p.cfg.Spool, p.log)
	if err != nil {
		return fmt.Errorf("kafka.spool: %w", err)
	}
	h := &p.hybrid
	h.sp = sp
	h.spillAfter = ms(p.cfg.Producer.SpillAfterMs)
	h.blockQoS0 = p.cfg.Producer.QoS0WhenFull == QoS0Block
	h.tick = min(max(h.spillAfter/10, 5*time.Millisecond), 50*time.Millisecond)
	h.room = make(chan struct{})
	h.direct = make(chan struct{})
	h.converge = int64(p.cfg.Producer.BufferRecords)
	h.kick = make(chan struct{}, 1)
	h.otherFails = map[uint64]int{}
	h.backoffMin, h.backoffMax = drainBackoffMin, drainBackoffMax
	h.backoff.Store(int64(drainBackoffMin))
	pc := *p.scfg
	pc.Net.DialTimeout, pc.Net.ReadTimeout, pc.Net.WriteTimeout = probeTimeout, probeTimeout, probeTimeout
	addrs := p.cfg.BootstrapServers
	h.check = func() error { return probe(addrs, &pc) }
	if st := sp.Stats(); st.Records > 0 {
		h.route = routeSpool
		h.needProbe = true
		h.replayLeft = st.Records
		p.log.Info("kafka producer: spool holds records from an earlier run; replaying them before any new record",
			zap.Int64("records", st.Records), zap.Int64("bytes", st.Bytes))
	}
	p.setStateLocked()
	return nil
}

// State returns StateDirect, StateSpilling, StateDraining or StateBlocked.
// Without the spool it is always StateDirect.
func (p *Producer) State() string {
	return spillState(p.state.Load()).String()
}

// setStateLocked publishes the state; caller holds rmu (or owns p alone).
func (p *Producer) setStateLocked() {
	s := stateDirect
	switch {
	case p.route == routeDirect:
	case p.blocked > 0:
		s = stateBlocked
	case p.draining:
		s = stateDraining
	default:
		s = stateSpilling
	}
	p.state.Store(uint32(s))
}

// SetFsyncHook installs f, called after each spool fsync with its latency
// (for a histogram). No-op without the spool. Call before Run.
func (p *Producer) SetFsyncHook(f func(time.Duration)) {
	if p.sp != nil {
		p.sp.FsyncHook(f)
	}
}

// OnPermanentFailure installs f, called with a spooled record that Kafka
// refused for good (too_large, invalid_topic, not_authorized; or an
// unclassified error, maxOtherFailures times). Its device was acked when it
// spilled, so it must not vanish in silence: the bridge dead-letters it. The
// record is then acked in the spool. f runs on a producer goroutine and must
// not block or call Produce. Call before Run.
func (p *Producer) OnPermanentFailure(f func(Record, error)) { p.onPerm = f }

func (p *Producer) hybridStats(s *ProducerStats) {
	if p.sp == nil {
		return
	}
	s.Spills = p.spills.Load()
	s.Spilled = p.spilled.Load()
	s.Drained = p.drained.Load()
	s.Replayed = p.replayed.Load()
	s.Dropped = p.dropped.snapshot()
	s.SpoolFailed = p.spoolFailed.snapshot()
	s.Spool = p.sp.Stats()
}

// waiting reports whether e's device still waits for its answer on the
// hybrid path (so a spool copy would release it). Caller holds mu or
// tolerates a stale answered flag.
func waiting(e *envelope) bool {
	return e.rec.Done != nil && e.rec.Mode == AckKafka && !e.answered.Load()
}

type lateAnswer struct {
	e   *envelope
	err error
}

func (p *Producer) answerAll(l []lateAnswer) {
	for _, a := range l {
		p.answer(a.e, a.err)
	}
}

// produceHybrid routes r: to the window while the route is direct and Kafka
// keeps up, else to the spool's tail. Caller holds gate (R).
func (p *Producer) produceHybrid(ctx context.Context, r *Record) (*envelope, error) {
	converged := false // waited once for the route to return to direct
	for {
		p.rmu.Lock()
		var late []lateAnswer
		if p.route == routeDirect {
			var reason spillReason
			switch {
			case r.Mode == AckSpool:
				reason = spillAckSpool
			case !p.connect.Load():
				reason = spillNotConnected
			case p.oldestAge() > p.spillAfter:
				reason = spillKafkaSlow
			default:
				select {
				case p.slots <- struct{}{}:
					p.directHeld.Add(1)
					e := p.enqueue(r)
					p.rmu.Unlock()
					if r.Mode == AckNone {
						return e, nil
					}
					return nil, nil
				default:
				}
				reason = spillWindowFull
			}
			late = p.startSpillLocked(reason)
		}
		if r.Mode == AckNone {
			p.rmu.Unlock()
			p.answerAll(late)
			p.dropped.add(dropShedAckNone)
			return &envelope{rec: r, accepted: time.Now(), kind: envSpooled}, nil
		}
		if !converged && r.Mode == AckKafka && p.converging() {
			// The drainer has nearly caught up: hold r briefly so that the
			// spool can run empty and the route return to direct. Without
			// this, steady load could keep the producer spilling forever.
			converged = true
			direct := p.direct
			p.rmu.Unlock()
			p.answerAll(late)
			t := time.NewTimer(p.spillAfter)
			var err error
			select {
			case <-direct:
			case <-t.C:
			case <-ctx.Done():
				err = ctx.Err()
			case <-p.closing:
				err = ErrClosed
			}
			t.Stop()
			if err != nil {
				return nil, err
			}
			continue
		}
		err := spool.ErrFull
		if len(p.backlog) > 0 {
			late = append(late, p.flushBacklogLocked()...)
		}
		if len(p.backlog) == 0 { // copies first: they are older than r
			err = p.appendLocked(r)
		}
		if !errors.Is(err, spool.ErrFull) {
			p.rmu.Unlock()
			p.answerAll(late)
			switch {
			case err == nil:
				return nil, nil
			case errors.Is(err, spool.ErrClosed):
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("kafka: spool append: %w", err)
		}
		if r.Done == nil && !p.blockQoS0 {
			p.rmu.Unlock()
			p.answerAll(late)
			p.dropped.add(dropShedQoS0)
			return nil, nil
		}
		p.blocked++
		p.setStateLocked()
		room := p.room
		p.rmu.Unlock()
		p.answerAll(late)
		select {
		case <-room:
		case <-ctx.Done():
			err = ctx.Err()
		case <-p.closing:
			err = ErrClosed
		}
		p.rmu.Lock()
		p.blocked--
		p.setStateLocked()
		p.rmu.Unlock()
		if !errors.Is(err, spool.ErrFull) {
			return nil, err
		}
	}
}

// oldestAge is the age of the oldest direct record still with Kafka.
func (p *Producer) oldestAge() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if el := p.pending.Front(); el != nil {
		return time.Since(el.Value.(*envelope).accepted)
	}
	return 0
}

// appendLocked appends r to the spool; its Done fires after the fsync.
// Caller holds rmu (appends are ordered by it).
func (p *Producer) appendLocked(r *Record) error {
	e := &envelope{rec: r, accepted: time.Now(), kind: envSpooled}
	data := encodeSpoolRecord(make([]byte, 0, spoolRecordSize(r)), r, e.accepted)
	return p.sp.Append(data, func(_ uint64, err error) {
		if err == nil {
			p.spilled.Add(1)
		}
		p.answer(e, err)
	})
}

// startSpillLocked switches the route to the spool. Every direct record
// whose device still waits is copied to the spool first, in acceptance
// order, before any new record (so a copy is never behind a newer record of
// its key). Caller holds rmu;
// it answers the returned records after unlocking.
func (p *Producer) startSpillLocked(reason spillReason) []lateAnswer {
	p.route = routeSpool
	p.draining = false
	p.needProbe = p.needProbe || !p.connect.Load() || reason.kafkaTrouble()
	p.spills.Add(1)
	p.mu.Lock()
	for el := p.pending.Front(); el != nil; el = el.Next() {
		if e := el.Value.(*envelope); e.copy == copyNone && waiting(e) {
			e.copy = copyBacklog
			p.backlog = append(p.backlog, e)
		}
	}
	p.mu.Unlock()
	p.log.Info("kafka producer: spilling to the disk spool", zap.Stringer("reason", reason),
		zap.Int("copies", len(p.backlog)), zap.Int64("direct_in_flight", p.directHeld.Load()))
	p.setStateLocked()
	late := p.flushBacklogLocked()
	p.kickDrainer()
	return late
}

// flushBacklogLocked appends copies of the backlog's records, in order,
// until the spool is full. Caller holds rmu.
func (p *Producer) flushBacklogLocked() []lateAnswer {
	var late []lateAnswer
	for len(p.backlog) > 0 {
		e := p.backlog[0]
		p.mu.Lock()
		if e.copy != copyBacklog {
			p.mu.Unlock()
			p.popBacklog()
			continue
		}
		e.copy = copyAppending
		p.mu.Unlock()
		p.copying.Add(1)
		data := encodeSpoolRecord(make([]byte, 0, spoolRecordSize(e.rec)), e.rec, e.accepted)
		err := p.sp.Append(data, p.copyDone(e))
		if err == nil {
			p.popBacklog()
			continue
		}
		p.copying.Add(-1)
		p.mu.Lock()
		ret, rerr := e.returned, e.retErr
		full := errors.Is(err, spool.ErrFull)
		switch {
		case ret && (rerr == nil || permanent(rerr)):
			e.copy = copyNone // settled meanwhile; finish saw copyAppending
			if rerr != nil {
				late = append(late, lateAnswer{e, rerr})
			}
		case full:
			e.copy = copyBacklog
		default:
			e.copy = copyNone
			if ret {
				late = append(late, lateAnswer{e, rerr})
			}
		}
		p.mu.Unlock()
		if full && e.copy == copyBacklog {
			return late
		}
		p.popBacklog()
		if !full {
			p.log.Error("kafka producer: spool append of an in-flight copy failed", zap.Error(err))
		}
	}
	return late
}

func (p *Producer) popBacklog() {
	p.backlog[0] = nil
	p.backlog = p.backlog[1:]
	if len(p.backlog) == 0 {
		p.backlog = nil
	}
}

// copyDone answers a copied record's device once the copy is durable, and
// acks the copy if Kafka acked the original meanwhile.
func (p *Producer) copyDone(e *envelope) func(uint64, error) {
	return func(seq uint64, err error) {
		p.mu.Lock()
		ret, rerr := e.returned, e.retErr
		if err != nil {
			e.copy = copyNone
		} else {
			e.copy, e.copySeq = copyDurable, seq
		}
		p.mu.Unlock()
		if err == nil && ret && rerr == nil {
			p.sp.Ack(seq) // Kafka has the original: do not send it twice
		}
		p.copying.Add(-1)
		p.kickDrainer()
		switch {
		case err == nil:
			if p.answer(e, nil) {
				p.spilled.Add(1)
			}
		case ret:
			p.answer(e, rerr) // the original failed too; the device resends
		}
		// Not returned and the copy failed: finish answers it.
	}
}

// finishDirect completes a direct record on the hybrid path. cs and copySeq
// are its copy state when sarama handed it back.
func (p *Producer) finishDirect(e *envelope, err error, cs copyState, copySeq uint64) {
	p.count(e, err)
	switch cs {
	case copyDurable:
		if err == nil {
			p.sp.Ack(copySeq) // Kafka has the original: do not send the copy
		}
	case copyAppending:
		if err == nil {
			p.answer(e, nil) // else copyDone answers it
		}
	case copyBacklog:
		if err == nil || permanent(err) {
			p.answer(e, err) // else it stays in the backlog
		}
	default:
		// No copy: delivered, refused for good, not waiting, or the copy
		// could not be made; a device that gets an error resends.
		p.answer(e, err)
	}
	if p.directHeld.Add(-1) == 0 {
		p.kickDrainer()
	}
}

// spillOnFailure switches the route to the spool when sarama fails a direct
// record retriably whose device still waits, so that the record is copied
// to the spool (and its device answered by the fsync) instead of failed.
// It runs while e is still in the pending list: the copy takes its place in
// acceptance order, ahead of anything spooled later.
func (p *Producer) spillOnFailure(e *envelope) {
	p.rmu.Lock()
	var late []lateAnswer
	if p.route == routeDirect && waiting(e) {
		late = p.startSpillLocked(spillKafkaError)
	}
	p.rmu.Unlock()
	p.answerAll(late)
}

func (p *Producer) kickDrainer() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// monitor detects a Kafka that stopped answering (the oldest direct record
// waited longer than spill_after_ms: a hang that sarama reports only after
// request_timeout_ms), retries the copy backlog, wakes blocked Produce calls
// and switches back to direct once the spool is drained.
func (p *Producer) monitor(stop <-chan struct{}) {
	t := time.NewTicker(p.tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		}
		p.rmu.Lock()
		var late []lateAnswer
		if p.route == routeDirect {
			if p.oldestAge() > p.spillAfter {
				late = p.startSpillLocked(spillKafkaSlow)
			}
		} else {
			if len(p.backlog) > 0 {
				late = p.flushBacklogLocked()
			}
			p.drainStalledLocked()
		}
		if p.blocked > 0 {
			p.wakeLocked()
		}
		p.rmu.Unlock()
		p.answerAll(late)
		p.maybeDirect()
	}
}

// drainStalledLocked takes the producer from draining back to spilling when
// the oldest drained record with sarama waited longer than spill_after_ms: a
// Kafka that died (or hangs) after the drainer's probe passed. sarama keeps
// such records, retrying, until delivery_timeout_ms, so without this the
// state would stay draining and every new AckKafka record would wait in the
// catching-up hold for a switch to direct that cannot come. It ends those
// holds, so new records go to the spool's tail and are acked after its fsync,
// and asks the drainer to rewind: it waits for the records with sarama to come
// back, then probes and resends from the first undelivered one. Caller holds
// rmu.
func (p *Producer) drainStalledLocked() {
	if p.route != routeSpool || !p.draining {
		return
	}
	p.dmu.Lock()
	var age time.Duration
	if !p.rewind && p.dInflight > 0 && len(p.dq) > 0 {
		age = time.Since(p.dq[0].accepted) // dq[0] is the oldest unresolved, so with sarama
	}
	stalled := age > p.spillAfter
	if stalled {
		p.rewind, p.stalled = true, true
		p.wakeNextLocked()
	}
	inflight := p.dInflight
	p.dmu.Unlock()
	if !stalled {
		return
	}
	p.draining, p.needProbe = false, true
	p.setStateLocked()
	close(p.direct) // the catching-up holds end: there is nothing to catch up with
	p.direct = make(chan struct{})
	p.kickDrainer()
	p.log.Warn("kafka producer: drain stalled; spilling until Kafka answers again",
		zap.Duration("oldest_drained_age", age), zap.Int("drained_in_flight", inflight))
}

// maybeDirect switches DRAINING → DIRECT once the spool is empty and nothing
// drained or copied is outstanding.
func (p *Producer) maybeDirect() {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.route != routeSpool || !p.draining || len(p.backlog) > 0 || p.copying.Load() > 0 || p.directHeld.Load() > 0 {
		return
	}
	p.dmu.Lock()
	idle := p.dInflight == 0 && !p.rewind
	p.dmu.Unlock()
	if !idle || !p.sp.Empty() {
		return
	}
	p.route = routeDirect
	p.draining = false
	p.setStateLocked()
	p.wakeLocked()
	close(p.direct)
	p.direct = make(chan struct{})
	p.log.Info("kafka producer: spool drained; back to direct", zap.Uint64("drained", p.drained.Load()))
}

// wakeLocked wakes every Produce call waiting on room. Caller holds rmu.
func (p *Producer) wakeLocked() {
	close(p.room)
	p.room = make(chan struct{})
}

// converging reports whether the drainer is sending and close to the spool's
// end. Caller holds rmu.
func (p *Producer) converging() bool {
	if !p.draining || len(p.backlog) > 0 {
		return false
	}
	p.dmu.Lock()
	rw := p.rewind
	p.dmu.Unlock()
	return !rw && p.sp.Stats().Records <= p.converge
}

// failBacklog answers records that never got their copy (quota full until
// shutdown). Their devices were not acked and resend.
func (p *Producer) failBacklog(err error) {
	p.rmu.Lock()
	var late []lateAnswer
	p.mu.Lock()
	for _, e := range p.backlog {
		if e.copy == copyBacklog {
			e.copy = copyNone
			late = append(late, lateAnswer{e, err})
		}
	}
	p.mu.Unlock()
	p.backlog = nil
	p.rmu.Unlock()
	p.answerAll(late)
}
