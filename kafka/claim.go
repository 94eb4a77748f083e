package kafka

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

type groupHandler struct{ c *Consumer }

// Setup runs when a session starts: the member has joined (Health). An
// eager session is one generation; a cooperative one lasts until the
// member leaves.
func (g *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	g.c.health.joined.Store(true)
	g.c.health.setSession(sess)
	return nil
}

// Cleanup runs after every ConsumeClaim returned: commit what they marked.
// (A partition a cooperative rebalance revokes is committed by sarama when
// its ConsumeClaim returned.)
func (g *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	g.c.health.setSession(nil)
	sess.Commit()
	return nil
}

// ConsumeClaim hands the partition's records to the handler, at most
// max_pending_per_partition beyond the commit point, marks the confirmed
// prefix as completions arrive, re-hands failed records after a back-off,
// and on revocation or shutdown waits (bounded) for outstanding completions.
func (g *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	g.c.health.assigned.Add(1)
	pc := newPartitionClaim(g.c, sess, claim)
	g.c.track(pc)
	defer g.c.untrack(pc)
	pc.consume()
	pc.drain()
	pc.release()
	return nil
}

func (c *Consumer) track(pc *partitionClaim) {
	c.mu.Lock()
	c.claims[pc] = struct{}{}
	c.mu.Unlock()
}

func (c *Consumer) untrack(pc *partitionClaim) {
	c.mu.Lock()
	delete(c.claims, pc)
	c.mu.Unlock()
}

// partitionClaim is one partition held by this member in one session: the
// records handed to the handler (tr), the retries waiting for their
// back-off, and the completions still outstanding.
//
// Locks: markMu (R: a completion marking; W: the claim ending) is held only
// around MarkOffset; retryMu and the tracker's lock are leaves. None is
// held while the handler runs.
type partitionClaim struct {
	h            Handler
	sess         sarama.ConsumerGroupSession
	src          sarama.ConsumerGroupClaim
	ctx          context.Context // the session's
	log          *zap.Logger
	tr           *offsetTracker
	maxPending   int
	drainTimeout time.Duration

	markMu   sync.RWMutex
	live     bool          // completions may mark; guarded by markMu
	inHandle atomic.Int64  // records with the handler, done not yet called
	wake     chan struct{} // a completion arrived (size 1: one pending wake-up is enough)
	retryMu  sync.Mutex
	retries  []retryItem // guarded by retryMu
}

type retryItem struct {
	msg     *sarama.ConsumerMessage
	due     time.Time
	attempt int
}

func newPartitionClaim(c *Consumer, sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) *partitionClaim {
	return &partitionClaim{
		h:            c.h,
		sess:         sess,
		src:          claim,
		ctx:          sess.Context(),
		log:          c.log.With(zap.String("topic", claim.Topic()), zap.Int32("partition", claim.Partition())),
		tr:           newOffsetTracker(),
		maxPending:   c.cfg.Consumer.MaxPendingPerPartition,
		drainTimeout: ms(c.cfg.Consumer.DrainTimeoutMs),
		live:         true,
		wake:         make(chan struct{}, 1),
	}
}

// consume hands out records until the session ends or the claim's channel
// closes. It stops reading while the window (max_pending_per_partition) is
// full, and re-hands failed records when their back-off is over.
func (pc *partitionClaim) consume() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		msgs := pc.src.Messages()
		if pc.tr.outstanding() >= pc.maxPending {
			msgs = nil // window full: wait for completions
		}
		select {
		case msg, ok := <-msgs:
			if !ok || pc.ctx.Err() != nil {
				return // a record read after revocation is not handed out
			}
			pc.tr.add(msg.Offset)
			pc.hand(msg, 0)
		case <-pc.wake:
			pc.retryDue(timer)
		case <-timer.C:
			pc.retryDue(timer)
		case <-pc.ctx.Done():
			return
		}
	}
}

// hand gives msg to the handler; attempt counts earlier failures.
func (pc *partitionClaim) hand(msg *sarama.ConsumerMessage, attempt int) {
	var once atomic.Bool
	pc.inHandle.Add(1)
	pc.h.Handle(pc.ctx, toMessage(msg), func(err error) {
		if !once.CompareAndSwap(false, true) {
			return
		}
		defer pc.notify()
		defer pc.inHandle.Add(-1)
		if err != nil {
			pc.retryLater(msg, attempt+1)
			return
		}
		pc.confirm(msg)
	})
}

func (pc *partitionClaim) notify() {
	select {
	case pc.wake <- struct{}{}:
	default:
	}
}

// confirm marks msg done and marks the new commit point if it moved, unless
// the claim has ended.
func (pc *partitionClaim) confirm(msg *sarama.ConsumerMessage) {
	next, moved := pc.tr.complete(msg.Offset)
	if !moved {
		return
	}
	pc.markMu.RLock()
	if pc.live {
		pc.sess.MarkOffset(msg.Topic, msg.Partition, next, "")
	}
	pc.markMu.RUnlock()
}

func (pc *partitionClaim) retryLater(msg *sarama.ConsumerMessage, attempt int) {
	pc.retryMu.Lock()
	pc.retries = append(pc.retries, retryItem{msg: msg, due: time.Now().Add(handlerRetryBackoff(attempt)), attempt: attempt})
	pc.retryMu.Unlock()
}

// retryDue re-hands the retries that are due and sets timer for the next.
func (pc *partitionClaim) retryDue(timer *time.Timer) {
	if wait := pc.runRetries(); wait >= 0 {
		timer.Reset(wait)
	}
}

// runRetries re-hands due retries and returns when the next one is due (-1:
// none waits).
func (pc *partitionClaim) runRetries() time.Duration {
	now := time.Now()
	pc.retryMu.Lock()
	var due []retryItem
	rest := pc.retries[:0]
	wait := time.Duration(-1)
	for _, r := range pc.retries {
		if !r.due.After(now) {
			due = append(due, r)
			continue
		}
		rest = append(rest, r)
		if d := r.due.Sub(now); wait < 0 || d < wait {
			wait = d
		}
	}
	pc.retries = rest
	pc.retryMu.Unlock()
	for _, r := range due {
		pc.log.Debug("re-handing record", zap.Int64("offset", r.msg.Offset), zap.Int("attempt", r.attempt))
		pc.hand(r.msg, r.attempt)
	}
	return wait
}

// drain waits, at most drain_timeout_ms, for the handler's outstanding
// completions. Nothing new is handed out any more.
func (pc *partitionClaim) drain() {
	t := time.NewTimer(pc.drainTimeout)
	defer t.Stop()
	for pc.inHandle.Load() > 0 {
		select {
		case <-pc.wake:
		case <-t.C:
			pc.log.Warn("partition released with records still at the handler; they will be delivered again",
				zap.Int64("outstanding", pc.inHandle.Load()))
			return
		}
	}
}

// release marks the confirmed prefix one last time. Completions that
// arrive later are ignored, so an old owner never marks a partition it has
// lost.
func (pc *partitionClaim) release() {
	pc.markMu.Lock()
	defer pc.markMu.Unlock()
	pc.live = false
	if next := pc.tr.commitPoint(); next >= 0 {
		pc.sess.MarkOffset(pc.src.Topic(), pc.src.Partition(), next, "")
	}
}

// handlerRetryBackoff is the wait before a failed record is handed out
// again: 1 s, doubling up to 30 s.
func handlerRetryBackoff(attempt int) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

func toMessage(m *sarama.ConsumerMessage) *Message {
	out := &Message{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Key:       m.Key,
		Value:     m.Value,
		Timestamp: m.Timestamp,
	}
	if len(m.Headers) > 0 {
		out.Headers = make([]Header, 0, len(m.Headers))
		for _, h := range m.Headers {
			if h != nil {
				out.Headers = append(out.Headers, Header{Key: string(h.Key), Value: h.Value})
			}
		}
	}
	return out
}
