package kafka

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka/spool"
)

// drainLoop replays the spool into Kafka, in spool order, through the same
// window and feeder as direct records. It sends only while the gate is open
// (awaitGate): the route is the spool, every direct record that was with
// sarama has come back, every copy's fsync has answered, and Kafka passed a
// probe. A failed record rewinds the loop to the first unresolved record.
func (s *spill) drainLoop(ctx context.Context) {
	var after uint64
	for {
		var ok bool
		if after, ok = s.awaitGate(ctx, after); !ok {
			return
		}
		// Next blocks while the spool has nothing after `after`. A rewind
		// (a failed or stalled drained record) must wake it: with no new
		// records arriving, the drainer would otherwise never resend, and
		// the state would stay spilling with records left in the spool.
		nctx, cancel := context.WithCancel(ctx)
		s.dmu.Lock()
		if s.rewind {
			s.dmu.Unlock()
			cancel()
			continue
		}
		s.nextCancel = cancel
		s.dmu.Unlock()
		seq, data, err := s.sp.Next(nctx, after)
		s.dmu.Lock()
		s.nextCancel = nil
		s.dmu.Unlock()
		cancel()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
				return
			}
			if errors.Is(err, context.Canceled) {
				continue // woken for a rewind
			}
			s.log.Error("kafka producer: reading the spool failed", zap.Error(err))
			if !sleepCtx(ctx, drainBackoffMax) {
				return
			}
			continue
		}
		if !s.gateOpen() {
			continue // a new spill began while Next waited: wait for it, then read again from after
		}
		rec, ts, err := decodeSpoolRecord(data)
		if err != nil {
			s.log.Error("kafka producer: undecodable spool record dropped", zap.Uint64("seq", seq), zap.Error(err))
			s.dropped.add(dropUndecodable)
			s.sp.Ack(seq)
			after = seq
			continue
		}
		if !s.w.acquire(ctx) {
			return
		}
		e := &envelope{rec: rec, accepted: time.Now(), kind: envDrained, seq: seq, after: after, ts: ts}
		if s.replayLeft > 0 && seq > s.replayMax {
			s.replayLeft--
			s.replayMax = seq
		}
		e.replay = seq <= s.replayMax
		s.dmu.Lock()
		if s.rewind {
			s.dmu.Unlock()
			s.w.freeSlot()
			continue
		}
		s.dq = append(s.dq, e)
		s.dInflight++
		s.dmu.Unlock()
		s.w.enqueueDrained(e)
		after = seq
	}
}

// gateOpen reports whether drained records may be sent now.
func (s *spill) gateOpen() bool {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.draining && s.gateLocked()
}

// gateLocked: the route is the spool, no direct record is with sarama (all
// are older than anything spooled), and no copy is waiting for its fsync
// (whose original may have been acked, making the copy a duplicate).
func (s *spill) gateLocked() bool {
	return s.route == routeSpool && s.directHeld.Load() == 0 && s.copying.Load() == 0
}

// awaitGate blocks until the drainer may send, handling a rewind after a
// failed drained record, and returns the `after` to read from. It returns
// false when ctx ends.
func (s *spill) awaitGate(ctx context.Context, after uint64) (uint64, bool) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		s.dmu.Lock()
		rw, rewound, stalled := s.rewind, false, s.stalled
		if rw && s.dInflight == 0 {
			if len(s.dq) > 0 { // else a stall whose records were all delivered meanwhile: go on from after
				after = s.dq[0].after // dq starts at the first unresolved record
			}
			clear(s.dq)
			s.dq = s.dq[:0]
			s.rewind, s.stalled, rw, rewound = false, false, false, true
		}
		s.dmu.Unlock()
		if rewound {
			s.rmu.Lock()
			s.draining, s.needProbe = false, true
			s.setStateLocked()
			s.rmu.Unlock()
			b := time.Duration(s.backoff.Load())
			s.backoff.Store(int64(min(2*b, s.backoffMax)))
			why := "failed"
			if stalled {
				why = "stalled"
			}
			s.log.Warn("kafka producer: drain "+why+"; retrying from the first undelivered record",
				zap.Uint64("after_seq", after), zap.Duration("backoff", b))
			if !sleepCtx(ctx, b) {
				return after, false
			}
			continue
		}
		if !rw {
			s.rmu.Lock()
			open := s.gateLocked()
			probe := open && !s.draining && s.needProbe
			if open && !probe {
				if !s.draining {
					s.draining = true
					s.drainIn, s.drainOut = s.appended, int64(s.drained.Load())
					s.setStateLocked()
					s.log.Info("kafka producer: draining the spool", zap.Int64("records", s.sp.Stats().Records))
				}
				s.rmu.Unlock()
				return after, true
			}
			s.rmu.Unlock()
			if probe {
				if err := s.check(); err != nil {
					b := time.Duration(s.backoff.Load())
					s.backoff.Store(int64(min(2*b, s.backoffMax)))
					s.log.Debug("kafka producer: Kafka not ready for draining", zap.Duration("backoff", b), zap.Error(err))
					if !sleepCtx(ctx, b) {
						return after, false
					}
					continue
				}
				s.w.connect.Store(true)
				s.rmu.Lock()
				s.needProbe = false
				s.rmu.Unlock()
				continue
			}
		}
		select {
		case <-s.kick:
		case <-t.C:
		case <-ctx.Done():
			return after, false
		}
	}
}

// settleDrained handles a drained record sarama handed back (its slot is
// free): ack it in the spool when delivered (or refused for good, after the
// permanent-failure hook), or ask the drainer to rewind.
func (s *spill) settleDrained(e *envelope, err error) {
	resolved := err == nil
	if err != nil {
		kind := kindOf(err)
		s.w.failed.add(kind)
		perm := kind.permanent()
		if !perm && kind == kindOther {
			s.dmu.Lock()
			s.otherFails[e.seq]++
			perm = s.otherFails[e.seq] >= maxOtherFailures
			s.dmu.Unlock()
		}
		if perm {
			resolved = true
			s.spoolFailed.add(kind)
			s.log.Error("kafka producer: Kafka refused a spooled (already acked) record for good",
				zap.Uint64("seq", e.seq), zap.String("topic", e.rec.Topic), zap.Stringer("kind", kind),
				zap.Bool("hook", s.onPerm != nil), zap.Error(err))
			if s.onPerm != nil {
				s.onPerm(*e.rec, err)
			}
		}
	} else {
		s.drained.Add(1)
		if e.replay {
			s.replayed.Add(1)
		}
		s.backoff.Store(int64(s.backoffMin))
	}
	if resolved {
		s.sp.Ack(e.seq)
	}
	s.dmu.Lock()
	e.resolved = resolved
	if !resolved {
		s.rewind = true
		s.wakeNextLocked()
	}
	s.dInflight--
	for len(s.dq) > 0 && s.dq[0].resolved {
		delete(s.otherFails, s.dq[0].seq)
		s.dq[0] = nil
		s.dq = s.dq[1:]
	}
	s.dmu.Unlock()
	s.kickDrainer()
	if resolved {
		s.maybeDirect()
	}
}

// wakeNextLocked ends the drainer's wait in spool.Next, so that it handles
// a rewind at once. Caller holds dmu.
func (s *spill) wakeNextLocked() {
	if s.nextCancel != nil {
		s.nextCancel()
		s.nextCancel = nil
	}
}
