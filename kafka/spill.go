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

// spill is the pipeline stage in front of the window when the disk spool is
// on (the hybrid path, README.md): the route state machine (direct,
// spilling, draining, blocked), the copies of the records in flight when a
// spill starts (spillcopy.go), and the drainer that replays the spool
// through the window (drain.go). It owns the window.
//
// Lock order: rmu → window.mu → cmu, and rmu → dmu. cmu and dmu are
// leaves; the spool's own lock is a leaf too. No lock is held while a
// record is answered.
type spill struct {
	w       *window
	sp      *spool.Spool
	log     *zap.Logger
	closing <-chan struct{}

	spillAfter time.Duration
	blockQoS0  bool
	tick       time.Duration       // monitor period
	check      func() error        // health probe before draining
	onPerm     func(Record, error) // OnPermanentFailure
	replayLeft int64               // drainer only: records on disk at Open not yet read back
	replayMax  uint64              // drainer only: highest seq counted as replayed

	rmu                    sync.Mutex // guards the fields below up to cmu, and orders spool appends
	route                  route
	draining               bool          // the drainer may send (gate open, probe passed)
	needProbe              bool          // probe Kafka before draining again
	backlog                []*envelope   // direct records to copy, in acceptance order
	blocked                int           // Produce calls waiting for room
	room                   chan struct{} // closed (and replaced) by the monitor and maybeDirect to wake blocked Produce calls
	leave                  chan struct{} // closed when the route leaves direct (wakes Produce calls waiting for a window slot); replaced when it returns
	direct                 chan struct{} // closed (and replaced) when the route returns to direct or the drain stalls: ends the catching-up holds
	converge               int64         // the drainer has caught up when at most this many records are unacked
	appended               int64         // new records appended to the spool (copies not counted)
	drainIn, drainOut      int64         // appended and s.drained when the drain began (drainThrottledLocked)
	throttled              int           // Produce calls waiting for the drain to catch up
	backoffMin, backoffMax time.Duration // the drainer's back-off bounds (drainBackoffMin/Max; tests shorten them)

	st         atomic.Uint32 // spillState; for State() without a lock
	directHeld atomic.Int64  // direct records holding a slot (in the queue or with sarama)
	copying    atomic.Int64  // copies appended whose fsync has not answered yet
	kick       chan struct{}
	backoff    atomic.Int64 // drainer back-off, reset by a delivered record

	cmu sync.Mutex // guards every envelope's copy fields (copy, copySeq, returned, retErr)

	dmu        sync.Mutex
	dq         []*envelope // drained records in send order, from the first unresolved one
	dInflight  int         // drained records with sarama
	rewind     bool        // a drained record failed, or the drain stalled: resend from the first unresolved one
	stalled    bool        // the rewind is for a stall (drainStalledLocked), not a failure
	nextCancel func()      // wakes the drainer from spool.Next when a rewind is asked for
	otherFails map[uint64]int

	spills, spilled, drained, replayed atomic.Uint64
	spillsBy                           spillCounters
	lastReason                         atomic.Int32 // the latest spill's reason; -1 before the first
	dropped                            dropCounters
	spoolFailed                        kindCounters
}

// newSpill opens the spool and puts the spill in front of w. An earlier
// run's records make it start in the spill route, so that they reach Kafka
// before any new record.
func newSpill(cfg Config, w *window, log *zap.Logger, closing <-chan struct{}) (*spill, error) {
	sp, err := spool.Open(cfg.Spool, log)
	if err != nil {
		return nil, fmt.Errorf("kafka.spool: %w", err)
	}
	s := &spill{
		w:          w,
		sp:         sp,
		log:        log,
		closing:    closing,
		spillAfter: ms(cfg.Producer.SpillAfterMs),
		blockQoS0:  cfg.Producer.QoS0WhenFull == QoS0Block,
		room:       make(chan struct{}),
		leave:      make(chan struct{}),
		direct:     make(chan struct{}),
		converge:   int64(cfg.Producer.BufferRecords),
		kick:       make(chan struct{}, 1),
		otherFails: map[uint64]int{},
		backoffMin: drainBackoffMin,
		backoffMax: drainBackoffMax,
	}
	s.tick = min(max(s.spillAfter/10, 5*time.Millisecond), 50*time.Millisecond)
	s.lastReason.Store(-1)
	s.backoff.Store(int64(drainBackoffMin))
	pc := *w.scfg
	pc.Net.DialTimeout, pc.Net.ReadTimeout, pc.Net.WriteTimeout = probeTimeout, probeTimeout, probeTimeout
	addrs := cfg.BootstrapServers
	s.check = func() error { return probe(addrs, &pc) }
	if st := sp.Stats(); st.Records > 0 {
		s.route = routeSpool
		close(s.leave)
		s.needProbe = true
		s.replayLeft = st.Records
		log.Info("kafka producer: spool holds records from an earlier run; replaying them before any new record",
			zap.Int64("records", st.Records), zap.Int64("bytes", st.Bytes))
	}
	s.setStateLocked()
	w.settle = s.settle
	w.keep = s.hasCopy
	return s, nil
}

func (s *spill) state() string { return spillState(s.st.Load()).String() }

// setStateLocked publishes the state; caller holds rmu (or owns s alone).
func (s *spill) setStateLocked() {
	st := stateDirect
	switch {
	case s.route == routeDirect:
	case s.blocked > 0:
		st = stateBlocked
	case s.draining:
		st = stateDraining
	default:
		st = stateSpilling
	}
	s.st.Store(uint32(st))
}

func (s *spill) setFsyncHook(f func(time.Duration))       { s.sp.FsyncHook(f) }
func (s *spill) onPermanentFailure(f func(Record, error)) { s.onPerm = f }

func (s *spill) stats(st *ProducerStats) {
	s.w.stats(st)
	st.Spills = s.spills.Load()
	st.SpillReasons = s.spillsBy.snapshot()
	if r := s.lastReason.Load(); r >= 0 {
		st.SpillReason = spillReason(r).String()
	}
	st.Spilled = s.spilled.Load()
	st.Drained = s.drained.Load()
	st.Replayed = s.replayed.Load()
	st.Dropped = s.dropped.snapshot()
	st.SpoolFailed = s.spoolFailed.snapshot()
	st.Spool = s.sp.Stats()
}

// run runs the spool's committer, the monitor and the window; the window
// starts the drainer once it is connected and stops it before its final
// flush, which it bounds by shutdownFlush. The spool stops last, after a
// final fsync.
func (s *spill) run(ctx context.Context, stopAccepting func()) error {
	spoolCtx, spoolCancel := context.WithCancel(context.WithoutCancel(ctx))
	var spoolWG sync.WaitGroup
	spoolWG.Go(func() {
		if err := s.sp.Run(spoolCtx); err != nil {
			s.log.Error("kafka producer: spool stopped with an error", zap.Error(err))
		}
	})
	monitorStop := make(chan struct{})
	var monitor sync.WaitGroup
	monitor.Go(func() { s.monitor(monitorStop) })

	var drainer sync.WaitGroup
	err := s.w.serve(ctx, windowHooks{
		connected: func() { drainer.Go(func() { s.drainLoop(ctx) }) },
		stopFeeding: func() {
			stopAccepting()
			drainer.Wait()
		},
		flushBound: shutdownFlush,
	})

	close(monitorStop)
	monitor.Wait()
	s.failBacklog(ErrClosed)
	spoolCancel() // last: the final fsync covers every append
	spoolWG.Wait()
	return err
}

type lateAnswer struct {
	e   *envelope
	err error
}

func (s *spill) answerAll(l []lateAnswer) {
	for _, a := range l {
		s.w.answer(a.e, a.err)
	}
}

// produce routes r: to the window while the route is direct and Kafka
// keeps up, else to the spool's tail. Caller holds the front's gate (R).
func (s *spill) produce(ctx context.Context, r *Record) (*envelope, error) {
	held := false // waited once for the route to return to direct
	slot := false // holds a window slot taken while waiting (awaitSlot)
	for {
		s.rmu.Lock()
		var late []lateAnswer
		if s.route == routeDirect {
			e, reason, ok := s.tryDirectLocked(r, slot)
			if ok {
				s.rmu.Unlock()
				if r.Mode == AckNone {
					return e, nil
				}
				return nil, nil
			}
			if slot {
				s.w.freeSlot()
				slot = false
			}
			if reason == noSpill {
				// The window is full but Kafka answers: overload, not an
				// outage. Wait for a slot, as without the spool; the
				// device's ack waits and the bridge stops reading it.
				leave := s.leave
				s.rmu.Unlock()
				var err error
				if slot, err = s.awaitSlot(ctx, leave); err != nil {
					return nil, err
				}
				continue
			}
			late = s.startSpillLocked(reason)
		} else if slot {
			s.w.freeSlot()
			slot = false
		}
		if r.Mode == AckNone {
			s.rmu.Unlock()
			s.answerAll(late)
			s.dropped.add(dropShedAckNone)
			return &envelope{rec: r, accepted: time.Now(), kind: envSpooled}, nil
		}
		if !held && r.Mode == AckKafka && s.converging() {
			// The drainer has nearly caught up: hold r briefly so that the
			// spool can run empty and the route return to direct. Without
			// this, steady load could keep the producer spilling forever.
			held = true
			direct := s.direct
			s.rmu.Unlock()
			s.answerAll(late)
			if err := s.hold(ctx, direct); err != nil {
				return nil, err
			}
			continue
		}
		if s.drainThrottledLocked(r) {
			// Kafka is healthy again and draining: a new record may not grow
			// the spool faster than it drains (overload, not an outage).
			s.throttled++
			room := s.room
			s.rmu.Unlock()
			s.answerAll(late)
			if err := s.waitDrain(ctx, room); err != nil {
				return nil, err
			}
			continue
		}
		err := spool.ErrFull
		if len(s.backlog) > 0 {
			late = append(late, s.flushBacklogLocked()...)
		}
		if len(s.backlog) == 0 { // copies first: they are older than r
			err = s.appendLocked(r)
		}
		if !errors.Is(err, spool.ErrFull) {
			s.rmu.Unlock()
			s.answerAll(late)
			switch {
			case err == nil:
				return nil, nil
			case errors.Is(err, spool.ErrClosed):
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("kafka: spool append: %w", err)
		}
		if r.Done == nil && !s.blockQoS0 {
			s.rmu.Unlock()
			s.answerAll(late)
			s.dropped.add(dropShedQoS0)
			return nil, nil
		}
		s.blocked++
		s.setStateLocked()
		room := s.room
		s.rmu.Unlock()
		s.answerAll(late)
		if err := s.waitRoom(ctx, room); err != nil {
			return nil, err
		}
	}
}

// noSpill is tryDirectLocked's answer when r may not go direct yet but
// must not spill either: the window is full while Kafka answers (overload).
// Whether Kafka stalled is the monitor's to decide (every tick, at most
// 50 ms): checking it per record took the pending list's lock, contended
// by the drainers, on every Produce.
const noSpill = numSpillReasons

// tryDirectLocked sends r through the window if it may go direct, or says
// why it may not: a spill reason, or noSpill for a full window while Kafka
// is healthy. slot says that the caller holds a window slot for r already
// (it is used, or left to the caller to free). Caller holds rmu; the route
// is direct.
func (s *spill) tryDirectLocked(r *Record, slot bool) (*envelope, spillReason, bool) {
	switch {
	case r.Mode == AckSpool:
		return nil, spillAckSpool, false
	case !s.w.connect.Load():
		return nil, spillNotConnected, false
	case !slot && !s.w.tryAcquire():
		return nil, noSpill, false
	}
	s.directHeld.Add(1)
	return s.w.enqueue(r), 0, true
}

// awaitSlot waits for a window slot while the route stays direct (leave is
// closed when it leaves: a spill started meanwhile). It reports whether it
// took a slot; counted as backpressure (ProducerStats.WindowFull, Waiting).
func (s *spill) awaitSlot(ctx context.Context, leave <-chan struct{}) (bool, error) {
	s.w.fullWaits.Add(1)
	s.w.waiting.Add(1)
	defer s.w.waiting.Add(-1)
	select {
	case s.w.slots <- struct{}{}:
		return true, nil
	case <-leave:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.closing:
		return false, ErrClosed
	}
}

// drainThrottledLocked reports whether r must wait before it is appended
// because the spool is draining into a healthy Kafka and the records
// appended since the drain began exceed half of those drained (plus one
// window of slack for bursts). So the spool shrinks at least at half the
// drain rate and the route returns to direct, however fast the load: the
// spool is for outages, not for a healthy Kafka's backlog. A drain that
// stalls ends draining, and with it the throttle. AckSpool records are
// write-ahead by choice and never wait here. Caller holds rmu.
func (s *spill) drainThrottledLocked(r *Record) bool {
	if !s.draining || r.Mode == AckSpool {
		return false
	}
	in := s.appended - s.drainIn
	out := int64(s.drained.Load()) - s.drainOut
	return 2*in > out+s.converge
}

// waitDrain waits, counted as backpressure, until the monitor or
// maybeDirect signals room (every monitor tick while anyone waits).
func (s *spill) waitDrain(ctx context.Context, room <-chan struct{}) error {
	s.w.fullWaits.Add(1)
	s.w.waiting.Add(1)
	defer s.w.waiting.Add(-1)
	var err error
	select {
	case <-room:
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.closing:
		err = ErrClosed
	}
	s.rmu.Lock()
	s.throttled--
	s.rmu.Unlock()
	return err
}

// hold waits, at most spill_after_ms, for the route to return to direct.
func (s *spill) hold(ctx context.Context, direct <-chan struct{}) error {
	t := time.NewTimer(s.spillAfter)
	defer t.Stop()
	select {
	case <-direct:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return ErrClosed
	}
	return nil
}

// waitRoom waits, counted as blocked, until the monitor or maybeDirect
// signals room, ctx ends or the producer closes.
func (s *spill) waitRoom(ctx context.Context, room <-chan struct{}) error {
	var err error
	select {
	case <-room:
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.closing:
		err = ErrClosed
	}
	s.rmu.Lock()
	s.blocked--
	s.setStateLocked()
	s.rmu.Unlock()
	return err
}

// appendLocked appends r to the spool; its Done fires after the fsync.
// Caller holds rmu (appends are ordered by it).
func (s *spill) appendLocked(r *Record) error {
	e := &envelope{rec: r, accepted: time.Now(), kind: envSpooled}
	data := encodeSpoolRecord(make([]byte, 0, spoolRecordSize(r)), r, e.accepted)
	err := s.sp.Append(data, func(_ uint64, err error) {
		if err == nil {
			s.spilled.Add(1)
		}
		s.w.answer(e, err)
	})
	if err == nil {
		s.appended++
	}
	return err
}

// startSpillLocked switches the route to the spool. Every direct record
// whose device still waits is copied to the spool first, in acceptance
// order, before any new record (so a copy is never behind a newer record of
// its key). Caller holds rmu; it answers the returned records after
// unlocking.
func (s *spill) startSpillLocked(reason spillReason) []lateAnswer {
	s.route = routeSpool
	close(s.leave)
	s.draining = false
	s.needProbe = s.needProbe || !s.w.connect.Load() || reason.kafkaTrouble()
	s.spills.Add(1)
	s.spillsBy.add(reason)
	s.lastReason.Store(int32(reason))
	s.w.eachPending(func(e *envelope) {
		s.cmu.Lock()
		if e.copy == copyNone && waiting(e) {
			e.copy = copyBacklog
			s.backlog = append(s.backlog, e)
		}
		s.cmu.Unlock()
	})
	s.log.Info("kafka producer: spilling to the disk spool", zap.Stringer("reason", reason),
		zap.Int("copies", len(s.backlog)), zap.Int64("direct_in_flight", s.directHeld.Load()))
	s.setStateLocked()
	late := s.flushBacklogLocked()
	s.kickDrainer()
	return late
}

func (s *spill) kickDrainer() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// monitor detects a Kafka that stopped answering (window.stalled: the oldest
// direct record waited longer than spill_after_ms with no answer since, or
// while later records were answered; a hang that sarama reports only after
// request_timeout_ms), retries the copy backlog, wakes blocked Produce calls
// and switches back to direct once the spool is drained.
func (s *spill) monitor(stop <-chan struct{}) {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		}
		s.rmu.Lock()
		var late []lateAnswer
		if s.route == routeDirect {
			if s.w.stalled(s.spillAfter) {
				late = s.startSpillLocked(spillKafkaSlow)
			}
		} else {
			if len(s.backlog) > 0 {
				late = s.flushBacklogLocked()
			}
			s.drainStalledLocked()
		}
		if s.blocked > 0 || s.throttled > 0 {
			s.wakeLocked()
		}
		s.rmu.Unlock()
		s.answerAll(late)
		s.maybeDirect()
	}
}

// drainStalledLocked takes the producer from draining back to spilling when
// Kafka stalled on the oldest drained record with sarama (window.stuck: it
// waited longer than spill_after_ms with no answer since, or while later
// records were answered): a Kafka that died (or hangs) after the drainer's
// probe passed. A drain that fills the window while Kafka answers is not
// stalled. sarama keeps
// such records, retrying, until delivery_timeout_ms, so without this the
// state would stay draining and every new AckKafka record would wait in the
// catching-up hold for a switch to direct that cannot come. It ends those
// holds, so new records go to the spool's tail and are acked after its fsync,
// and asks the drainer to rewind: it waits for the records with sarama to come
// back, then probes and resends from the first undelivered one. Caller holds
// rmu.
func (s *spill) drainStalledLocked() {
	if s.route != routeSpool || !s.draining {
		return
	}
	s.dmu.Lock()
	var age time.Duration
	stalled := false
	if !s.rewind && s.dInflight > 0 && len(s.dq) > 0 {
		now := time.Now()
		age = now.Sub(s.dq[0].accepted) // dq[0] is the oldest unresolved, so with sarama
		stalled = s.w.stuck(s.dq[0], now, s.spillAfter)
	}
	if stalled {
		s.rewind, s.stalled = true, true
		s.wakeNextLocked()
	}
	inflight := s.dInflight
	s.dmu.Unlock()
	if !stalled {
		return
	}
	s.draining, s.needProbe = false, true
	s.setStateLocked()
	s.endHoldsLocked() // there is nothing to catch up with
	s.kickDrainer()
	s.log.Warn("kafka producer: drain stalled; spilling until Kafka answers again",
		zap.Duration("oldest_drained_age", age), zap.Int("drained_in_flight", inflight))
}

// maybeDirect switches DRAINING → DIRECT once the spool is empty and nothing
// drained or copied is outstanding.
func (s *spill) maybeDirect() {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.route != routeSpool || !s.draining || len(s.backlog) > 0 || s.copying.Load() > 0 || s.directHeld.Load() > 0 {
		return
	}
	s.dmu.Lock()
	idle := s.dInflight == 0 && !s.rewind
	s.dmu.Unlock()
	if !idle || !s.sp.Empty() {
		return
	}
	s.route = routeDirect
	s.leave = make(chan struct{})
	s.draining = false
	s.setStateLocked()
	s.wakeLocked()
	s.endHoldsLocked()
	s.log.Info("kafka producer: spool drained; back to direct", zap.Uint64("drained", s.drained.Load()))
}

// wakeLocked wakes every Produce call waiting on room. Caller holds rmu.
func (s *spill) wakeLocked() {
	close(s.room)
	s.room = make(chan struct{})
}

// endHoldsLocked ends every catching-up hold. Caller holds rmu.
func (s *spill) endHoldsLocked() {
	close(s.direct)
	s.direct = make(chan struct{})
}

// converging reports whether the drainer is sending and close to the spool's
// end. Caller holds rmu.
func (s *spill) converging() bool {
	if !s.draining || len(s.backlog) > 0 {
		return false
	}
	s.dmu.Lock()
	rw := s.rewind
	s.dmu.Unlock()
	return !rw && s.sp.Stats().Records <= s.converge
}
