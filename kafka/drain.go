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
func (p *Producer) drainLoop(ctx context.Context) {
	var after uint64
	for {
		var ok bool
		if after, ok = p.awaitGate(ctx, after); !ok {
			return
		}
		// Next blocks while the spool has nothing after `after`. A rewind
		// (a failed or stalled drained record) must wake it: with no new
		// records arriving, the drainer would otherwise never resend, and
		// the state would stay spilling with records left in the spool.
		nctx, cancel := context.WithCancel(ctx)
		p.dmu.Lock()
		if p.rewind {
			p.dmu.Unlock()
			cancel()
			continue
		}
		p.nextCancel = cancel
		p.dmu.Unlock()
		seq, data, err := p.sp.Next(nctx, after)
		p.dmu.Lock()
		p.nextCancel = nil
		p.dmu.Unlock()
		cancel()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
				return
			}
			if errors.Is(err, context.Canceled) {
				continue // woken for a rewind
			}
			p.log.Error("kafka producer: reading the spool failed", zap.Error(err))
			if !sleepCtx(ctx, drainBackoffMax) {
				return
			}
			continue
		}
		if !p.gateOpen() {
			continue // a new spill began while Next waited: wait for it, then read again from after
		}
		rec, ts, err := decodeSpoolRecord(data)
		if err != nil {
			p.log.Error("kafka producer: undecodable spool record dropped", zap.Uint64("seq", seq), zap.Error(err))
			p.dropped.add(dropUndecodable)
			p.sp.Ack(seq)
			after = seq
			continue
		}
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		e := &envelope{rec: rec, accepted: time.Now(), kind: envDrained, seq: seq, after: after, ts: ts}
		if p.replayLeft > 0 && seq > p.replayMax {
			p.replayLeft--
			p.replayMax = seq
		}
		e.replay = seq <= p.replayMax
		p.dmu.Lock()
		if p.rewind {
			p.dmu.Unlock()
			<-p.slots
			continue
		}
		p.dq = append(p.dq, e)
		p.dInflight++
		p.dmu.Unlock()
		p.queue <- e
		after = seq
	}
}

// gateOpen reports whether drained records may be sent now.
func (p *Producer) gateOpen() bool {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return p.draining && p.gateLocked()
}

// gateLocked: the route is the spool, no direct record is with sarama (all
// are older than anything spooled), and no copy is waiting for its fsync
// (whose original may have been acked, making the copy a duplicate).
func (p *Producer) gateLocked() bool {
	return p.route == routeSpool && p.directHeld.Load() == 0 && p.copying.Load() == 0
}

// awaitGate blocks until the drainer may send, handling a rewind after a
// failed drained record, and returns the `after` to read from. It returns
// false when ctx ends.
func (p *Producer) awaitGate(ctx context.Context, after uint64) (uint64, bool) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		p.dmu.Lock()
		rw, rewound, stalled := p.rewind, false, p.stalled
		if rw && p.dInflight == 0 {
			if len(p.dq) > 0 { // else a stall whose records were all delivered meanwhile: go on from after
				after = p.dq[0].after // dq starts at the first unresolved record
			}
			clear(p.dq)
			p.dq = p.dq[:0]
			p.rewind, p.stalled, rw, rewound = false, false, false, true
		}
		p.dmu.Unlock()
		if rewound {
			p.rmu.Lock()
			p.draining, p.needProbe = false, true
			p.setStateLocked()
			p.rmu.Unlock()
			b := time.Duration(p.backoff.Load())
			p.backoff.Store(int64(min(2*b, p.backoffMax)))
			why := "failed"
			if stalled {
				why = "stalled"
			}
			p.log.Warn("kafka producer: drain "+why+"; retrying from the first undelivered record",
				zap.Uint64("after_seq", after), zap.Duration("backoff", b))
			if !sleepCtx(ctx, b) {
				return after, false
			}
			continue
		}
		if !rw {
			p.rmu.Lock()
			open := p.gateLocked()
			probe := open && !p.draining && p.needProbe
			if open && !probe {
				if !p.draining {
					p.draining = true
					p.setStateLocked()
					p.log.Info("kafka producer: draining the spool", zap.Int64("records", p.sp.Stats().Records))
				}
				p.rmu.Unlock()
				return after, true
			}
			p.rmu.Unlock()
			if probe {
				if err := p.check(); err != nil {
					b := time.Duration(p.backoff.Load())
					p.backoff.Store(int64(min(2*b, p.backoffMax)))
					p.log.Debug("kafka producer: Kafka not ready for draining", zap.Duration("backoff", b), zap.Error(err))
					if !sleepCtx(ctx, b) {
						return after, false
					}
					continue
				}
				p.connect.Store(true)
				p.rmu.Lock()
				p.needProbe = false
				p.rmu.Unlock()
				continue
			}
		}
		select {
		case <-p.kick:
		case <-t.C:
		case <-ctx.Done():
			return after, false
		}
	}
}

// finishDrained handles a drained record sarama handed back: ack it in the
// spool when delivered (or refused for good, after the permanent-failure
// hook), or ask the drainer to rewind.
func (p *Producer) finishDrained(e *envelope, err error) {
	<-p.slots
	resolved := err == nil
	if err != nil {
		kind := kindOf(err)
		p.failed.add(kind)
		perm := kind.permanent()
		if !perm && kind == kindOther {
			p.dmu.Lock()
			p.otherFails[e.seq]++
			perm = p.otherFails[e.seq] >= maxOtherFailures
			p.dmu.Unlock()
		}
		if perm {
			resolved = true
			p.spoolFailed.add(kind)
			p.log.Error("kafka producer: Kafka refused a spooled (already acked) record for good",
				zap.Uint64("seq", e.seq), zap.String("topic", e.rec.Topic), zap.Stringer("kind", kind),
				zap.Bool("hook", p.onPerm != nil), zap.Error(err))
			if p.onPerm != nil {
				p.onPerm(*e.rec, err)
			}
		}
	} else {
		p.drained.Add(1)
		if e.replay {
			p.replayed.Add(1)
		}
		p.backoff.Store(int64(p.backoffMin))
	}
	if resolved {
		p.sp.Ack(e.seq)
	}
	p.dmu.Lock()
	e.resolved = resolved
	if !resolved {
		p.rewind = true
		p.wakeNextLocked()
	}
	p.dInflight--
	for len(p.dq) > 0 && p.dq[0].resolved {
		delete(p.otherFails, p.dq[0].seq)
		p.dq[0] = nil
		p.dq = p.dq[1:]
	}
	p.dmu.Unlock()
	p.kickDrainer()
	if resolved {
		p.maybeDirect()
	}
}

// wakeNextLocked ends the drainer's wait in spool.Next, so that it handles
// a rewind at once. Caller holds dmu.
func (p *Producer) wakeNextLocked() {
	if p.nextCancel != nil {
		p.nextCancel()
		p.nextCancel = nil
	}
}
