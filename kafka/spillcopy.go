package kafka

import (
	"errors"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka/spool"
)

// The spill's copies of direct records: when a spill starts, every direct
// record whose device still waits is copied to the spool (startSpillLocked
// puts it in the backlog), and its device is answered by whichever comes
// first, Kafka's ack or the copy's fsync. A copy whose original Kafka acked
// is acked in the spool, so the drainer does not send it twice.

// settle is the window's settle hook: it completes a record sarama handed
// back (err nil: Kafka acked it), or one that never reached sarama.
func (s *spill) settle(e *envelope, err error) {
	if e.kind == envDrained {
		s.w.release(e)
		s.settleDrained(e, err)
		return
	}
	if err != nil && !permanent(err) {
		s.spillOnFailure(e) // while e is still pending: its copy takes its place in acceptance order
	}
	s.w.release(e)
	s.settleDirect(e, err)
}

// spillOnFailure handles a retriable sarama failure of a direct record.
// Kafka is in trouble, so the drainer must probe it before it sends, even
// when the route is the spool already: a spill that started for the load
// (window_full, ack_spool) while Connected() was still true did not ask for
// a probe, and draining into a Kafka that fails records can deliver the
// records behind a failed one first. While the route is direct and the
// record's device still waits, it starts the spill, so that the record is
// copied to the spool (and its device answered by the fsync) instead of
// failed.
func (s *spill) spillOnFailure(e *envelope) {
	s.rmu.Lock()
	var late []lateAnswer
	s.needProbe = true // before directHeld drops: the gate opens only after it
	if s.route == routeDirect && waiting(e) {
		late = s.startSpillLocked(spillKafkaError)
	}
	s.rmu.Unlock()
	s.answerAll(late)
}

// settleDirect answers a direct record that left the window, according to
// where its copy stands.
func (s *spill) settleDirect(e *envelope, err error) {
	s.cmu.Lock()
	e.returned, e.retErr = true, err
	cs, copySeq := e.copy, e.copySeq
	if cs == copyBacklog && (err == nil || permanent(err)) {
		e.copy = copyNone // no copy needed any more
	}
	s.cmu.Unlock()
	s.w.count(e, err)
	switch cs {
	case copyDurable:
		if err == nil {
			s.sp.Ack(copySeq) // Kafka has the original: do not send the copy
		}
	case copyAppending:
		if err == nil {
			s.w.answer(e, nil) // else copyDone answers it
		}
	case copyBacklog:
		if err == nil || permanent(err) {
			s.w.answer(e, err) // else it stays in the backlog
		}
	default:
		// No copy: delivered, refused for good, not waiting, or the copy
		// could not be made; a device that gets an error resends.
		s.w.answer(e, err)
	}
	if s.directHeld.Add(-1) == 0 {
		s.kickDrainer()
	}
}

// hasCopy is the window's keep hook: the sweeper leaves a record alone that
// has (or is getting) a spool copy; its device is answered by the fsync.
func (s *spill) hasCopy(e *envelope) bool {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return e.copy != copyNone
}

// flushBacklogLocked appends copies of the backlog's records, in order,
// until the spool is full. Caller holds rmu.
func (s *spill) flushBacklogLocked() []lateAnswer {
	var late []lateAnswer
	for len(s.backlog) > 0 {
		e := s.backlog[0]
		s.cmu.Lock()
		if e.copy != copyBacklog {
			s.cmu.Unlock()
			s.popBacklog()
			continue
		}
		e.copy = copyAppending
		s.cmu.Unlock()
		s.copying.Add(1)
		data := encodeSpoolRecord(make([]byte, 0, spoolRecordSize(e.rec)), e.rec, e.accepted)
		err := s.sp.Append(data, s.copyDone(e))
		if err == nil {
			s.popBacklog()
			continue
		}
		s.copying.Add(-1)
		full := errors.Is(err, spool.ErrFull)
		s.cmu.Lock()
		ret, rerr := e.returned, e.retErr
		switch {
		case ret && (rerr == nil || permanent(rerr)):
			e.copy = copyNone // settled meanwhile; settleDirect saw copyAppending
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
		wait := e.copy == copyBacklog
		s.cmu.Unlock()
		if wait {
			return late // no room: the copies wait, in order
		}
		s.popBacklog()
		if !full {
			s.log.Error("kafka producer: spool append of an in-flight copy failed", zap.Error(err))
		}
	}
	return late
}

func (s *spill) popBacklog() {
	s.backlog[0] = nil
	s.backlog = s.backlog[1:]
	if len(s.backlog) == 0 {
		s.backlog = nil
	}
}

// copyDone answers a copied record's device once the copy is durable, and
// acks the copy if Kafka acked the original meanwhile.
func (s *spill) copyDone(e *envelope) func(uint64, error) {
	return func(seq uint64, err error) {
		s.cmu.Lock()
		ret, rerr := e.returned, e.retErr
		if err != nil {
			e.copy = copyNone
		} else {
			e.copy, e.copySeq = copyDurable, seq
		}
		s.cmu.Unlock()
		if err == nil && ret && rerr == nil {
			s.sp.Ack(seq) // Kafka has the original: do not send it twice
		}
		s.copying.Add(-1)
		s.kickDrainer()
		switch {
		case err == nil:
			if s.w.answer(e, nil) {
				s.spilled.Add(1)
			}
		case ret:
			s.w.answer(e, rerr) // the original failed too; the device resends
		}
		// Not returned and the copy failed: settleDirect answers it.
	}
}

// failBacklog answers records that never got their copy (quota full until
// shutdown). Their devices were not acked and resend.
func (s *spill) failBacklog(err error) {
	s.rmu.Lock()
	var late []lateAnswer
	s.cmu.Lock()
	for _, e := range s.backlog {
		if e.copy == copyBacklog {
			e.copy = copyNone
			late = append(late, lateAnswer{e, err})
		}
	}
	s.cmu.Unlock()
	s.backlog = nil
	s.rmu.Unlock()
	s.answerAll(late)
}
