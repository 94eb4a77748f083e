package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// Message is one record read by the consumer.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Headers   []Header
	Value     []byte
	Timestamp time.Time
}

// Handler receives consumed records. It must call done exactly once per
// record, possibly later and from another goroutine: done(nil) when the
// record is taken care of (its offset may then be committed), done(err) to
// have it handed out again after a back-off. Handle must not block for long:
// it runs on the partition's claim loop.
type Handler interface {
	Handle(ctx context.Context, m *Message, done func(error))
}

// Consumer is the downlink: a consumer group whose offsets move only over
// records the handler confirmed (at-least-once). See README.md.
type Consumer struct {
	cfg    Config
	topics []string
	h      Handler
	log    *zap.Logger
	scfg   *sarama.Config

	mu     sync.Mutex
	claims map[*claimState]struct{}

	health consumerHealth // consumerhealth.go
}

type claimState struct {
	claim sarama.ConsumerGroupClaim
	tr    *offsetTracker
}

// NewConsumer validates cfg and prepares a consumer of topics. It starts
// nothing.
func NewConsumer(cfg Config, topics []string, h Handler, log *zap.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(topics) == 0 {
		return nil, errors.New("kafka consumer: no topics")
	}
	if h == nil {
		return nil, errors.New("kafka consumer: nil handler")
	}
	scfg, err := cfg.consumerConfig()
	if err != nil {
		return nil, fmt.Errorf("kafka consumer config: %w", err)
	}
	return &Consumer{
		cfg:    cfg,
		topics: append([]string(nil), topics...),
		h:      h,
		log:    log.With(zap.String("component", "kafka_consumer"), zap.String("group_id", cfg.Consumer.GroupID)),
		scfg:   scfg,
		claims: map[*claimState]struct{}{},
	}, nil
}

// Run joins the group and consumes until ctx ends, rejoining after every
// rebalance and retrying with back-off while Kafka is unreachable. It
// returns nil after ctx ended, the last claims drained, the final commit
// made and every goroutine it started ended.
func (c *Consumer) Run(ctx context.Context) error {
	backoff := 250 * time.Millisecond
	var group sarama.ConsumerGroup
	for attempt := 1; group == nil; attempt++ {
		g, err := sarama.NewConsumerGroup(c.cfg.BootstrapServers, c.cfg.Consumer.GroupID, c.scfg)
		if err == nil {
			group = g
			break
		}
		c.health.noteError(err)
		c.log.Warn("kafka unreachable, retrying", zap.Int("attempt", attempt),
			zap.Duration("backoff", backoff), zap.String("kind", ErrorKind(err)), zap.Error(err))
		if !sleepCtx(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for err := range group.Errors() {
			c.health.noteError(err)
			c.log.Warn("kafka consumer error", zap.String("kind", ErrorKind(err)), zap.Error(err))
		}
	})
	handler := &groupHandler{c: c}
	backoff = 250 * time.Millisecond
	for ctx.Err() == nil {
		err := group.Consume(ctx, c.topics, handler)
		if ctx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
			break
		}
		if err == nil {
			backoff = 250 * time.Millisecond
			continue // rebalance: join again
		}
		c.health.noteError(err)
		c.log.Warn("kafka consumer session ended, rejoining", zap.Duration("backoff", backoff),
			zap.String("kind", ErrorKind(err)), zap.Error(err))
		sleepCtx(ctx, backoff)
		backoff = min(2*backoff, 10*time.Second)
	}
	if err := group.Close(); err != nil {
		c.log.Warn("kafka consumer: closing group", zap.Error(err))
	}
	wg.Wait()
	return nil
}

// Lag is the sum, over the partitions this member holds, of the high
// watermark minus the offset that would be committed now.
func (c *Consumer) Lag() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var lag int64
	for st := range c.claims {
		next := st.tr.commitPoint()
		if next < 0 {
			next = st.claim.InitialOffset()
		}
		if hwm := st.claim.HighWaterMarkOffset(); next >= 0 && hwm > next {
			lag += hwm - next
		}
	}
	return lag
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type groupHandler struct{ c *Consumer }

func (g *groupHandler) Setup(sarama.ConsumerGroupSession) error {
	g.c.health.joined.Store(true)
	return nil
}

// Cleanup runs after every ConsumeClaim returned: commit what they marked.
func (g *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	sess.Commit()
	return nil
}

type retryItem struct {
	msg     *sarama.ConsumerMessage
	due     time.Time
	attempt int
}

// ConsumeClaim hands the partition's records to the handler, at most
// max_pending_per_partition beyond the commit point, marks the confirmed
// prefix as completions arrive, re-hands failed records after a back-off,
// and on revocation or shutdown waits (bounded) for outstanding completions.
func (g *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	c := g.c
	ctx := sess.Context()
	st := &claimState{claim: claim, tr: newOffsetTracker()}
	c.mu.Lock()
	c.claims[st] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.claims, st)
		c.mu.Unlock()
	}()
	log := c.log.With(zap.String("topic", claim.Topic()), zap.Int32("partition", claim.Partition()))

	var (
		markMu   sync.RWMutex // R: a completion marking; W: the claim ending
		live     = true       // guarded by markMu
		inHandle atomic.Int64 // records with the handler, done not yet called
		wake     = make(chan struct{}, 1)
		retryMu  sync.Mutex
		retries  []retryItem
	)
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	var hand func(msg *sarama.ConsumerMessage, attempt int)
	hand = func(msg *sarama.ConsumerMessage, attempt int) {
		var once atomic.Bool
		inHandle.Add(1)
		c.h.Handle(ctx, toMessage(msg), func(err error) {
			if !once.CompareAndSwap(false, true) {
				return
			}
			defer notify()
			defer inHandle.Add(-1)
			if err != nil {
				retryMu.Lock()
				retries = append(retries, retryItem{msg: msg, due: time.Now().Add(handlerRetryBackoff(attempt + 1)), attempt: attempt + 1})
				retryMu.Unlock()
				return
			}
			next, moved := st.tr.complete(msg.Offset)
			if !moved {
				return
			}
			markMu.RLock()
			if live {
				sess.MarkOffset(msg.Topic, msg.Partition, next, "")
			}
			markMu.RUnlock()
		})
	}
	// runRetries re-hands due retries and returns when the next one is due.
	runRetries := func() time.Duration {
		now := time.Now()
		retryMu.Lock()
		var due []retryItem
		rest := retries[:0]
		wait := time.Duration(-1)
		for _, r := range retries {
			if !r.due.After(now) {
				due = append(due, r)
				continue
			}
			rest = append(rest, r)
			if d := r.due.Sub(now); wait < 0 || d < wait {
				wait = d
			}
		}
		retries = rest
		retryMu.Unlock()
		for _, r := range due {
			log.Debug("re-handing record", zap.Int64("offset", r.msg.Offset), zap.Int("attempt", r.attempt))
			hand(r.msg, r.attempt)
		}
		return wait
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	maxPending := c.cfg.Consumer.MaxPendingPerPartition
loop:
	for {
		msgs := claim.Messages()
		if st.tr.outstanding() >= maxPending {
			msgs = nil // window full: wait for completions
		}
		select {
		case msg, ok := <-msgs:
			if !ok || ctx.Err() != nil {
				break loop // a record read after revocation is not handed out
			}
			st.tr.add(msg.Offset)
			hand(msg, 0)
		case <-wake:
			if wait := runRetries(); wait >= 0 {
				timer.Reset(wait)
			}
		case <-timer.C:
			if wait := runRetries(); wait >= 0 {
				timer.Reset(wait)
			}
		case <-ctx.Done():
			break loop
		}
	}

	// Stop handing out; wait (bounded) for the handler's outstanding calls.
	drain := time.NewTimer(ms(c.cfg.Consumer.DrainTimeoutMs))
	defer drain.Stop()
	for inHandle.Load() > 0 {
		select {
		case <-wake:
		case <-drain.C:
			log.Warn("partition released with records still at the handler; they will be delivered again",
				zap.Int64("outstanding", inHandle.Load()))
			goto done
		}
	}
done:
	markMu.Lock()
	live = false
	if next := st.tr.commitPoint(); next >= 0 {
		sess.MarkOffset(claim.Topic(), claim.Partition(), next, "")
	}
	markMu.Unlock()
	return nil
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
