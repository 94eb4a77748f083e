package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	claims map[*partitionClaim]struct{}

	health consumerHealth // consumerhealth.go
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
		claims: map[*partitionClaim]struct{}{},
	}, nil
}

// Run joins the group and consumes until ctx ends, rejoining after every
// rebalance and retrying with back-off while Kafka is unreachable. It
// returns nil after ctx ended, the last claims drained, the final commit
// made and every goroutine it started ended.
func (c *Consumer) Run(ctx context.Context) error {
	backoff := 250 * time.Millisecond
	var group sarama.ConsumerGroup
	var cause causeLog // the join loop and the session loop below
	for attempt := 1; group == nil; attempt++ {
		g, err := sarama.NewConsumerGroup(c.cfg.BootstrapServers, c.cfg.Consumer.GroupID, c.scfg)
		if err == nil {
			group = g
			cause.ok()
			break
		}
		c.health.noteError(err)
		c.log.Log(cause.level(ErrorKind(err)), "kafka unreachable, retrying", zap.Int("attempt", attempt),
			zap.Duration("backoff", backoff), zap.String("kind", ErrorKind(err)), zap.Error(err))
		if !sleepCtx(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		var errCause causeLog
		for err := range group.Errors() {
			c.health.noteError(err)
			c.log.Log(errCause.level(ErrorKind(err)), "kafka consumer error", zap.String("kind", ErrorKind(err)), zap.Error(err))
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
			cause.ok()
			continue // rebalance: join again
		}
		c.health.noteError(err)
		c.log.Log(cause.level(ErrorKind(err)), "kafka consumer session ended, rejoining", zap.Duration("backoff", backoff),
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
	for pc := range c.claims {
		next := pc.tr.commitPoint()
		if next < 0 {
			next = pc.src.InitialOffset()
		}
		if hwm := pc.src.HighWaterMarkOffset(); next >= 0 && hwm > next {
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
