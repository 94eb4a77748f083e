package kafka

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// ConsumerHealth is a snapshot of the downlink consumer's own state.
type ConsumerHealth struct {
	Joined     bool     // a group generation has started (Setup ran) at least once
	Partitions []string // "topic/partition" held now, sorted
	Lag        int64    // as Lag()
	// The last error the group reported (joining, a session, or sarama's
	// Errors channel), its ErrorKind and when; empty when none yet.
	LastError     string
	LastErrorKind string
	LastErrorAt   time.Time
	Errors        map[string]uint64 // errors so far, by ErrorKind
	// Generation is the group generation of the current session (-1: no
	// session now). The group coordinator bumps it at every rebalance, and
	// every member sees the same number, so its growth counts the group's
	// rebalances.
	Generation int32
	// Assignments counts the partitions this member started reading since
	// it started (one per partition per eager rebalance; with
	// cooperative-sticky only the partitions that moved here).
	Assignments uint64
}

// consumerHealth is the part of Consumer that records errors.
type consumerHealth struct {
	joined   atomic.Bool
	count    kindCounters
	assigned atomic.Uint64 // ConsumeClaim calls

	sessMu sync.Mutex
	sess   sarama.ConsumerGroupSession // between Setup and Cleanup; nil otherwise

	mu      sync.Mutex
	lastErr error
	lastAt  time.Time
}

func (h *consumerHealth) noteError(err error) {
	if err == nil {
		return
	}
	h.count.add(kindOf(err))
	h.mu.Lock()
	h.lastErr, h.lastAt = err, time.Now()
	h.mu.Unlock()
}

// Health returns the consumer's state: partitions held, lag and the last
// error.
func (c *Consumer) Health() ConsumerHealth {
	h := ConsumerHealth{Joined: c.health.joined.Load(), Lag: c.Lag(), Errors: c.health.count.snapshot(),
		Generation: c.health.generation(), Assignments: c.health.assigned.Load()}
	c.mu.Lock()
	for pc := range c.claims {
		h.Partitions = append(h.Partitions, fmt.Sprintf("%s/%d", pc.src.Topic(), pc.src.Partition()))
	}
	c.mu.Unlock()
	slices.Sort(h.Partitions)
	c.health.mu.Lock()
	if c.health.lastErr != nil {
		h.LastError, h.LastErrorKind, h.LastErrorAt = c.health.lastErr.Error(), ErrorKind(c.health.lastErr), c.health.lastAt
	}
	c.health.mu.Unlock()
	return h
}

// setSession records the session Setup started (nil: Cleanup ended it).
func (h *consumerHealth) setSession(s sarama.ConsumerGroupSession) {
	h.sessMu.Lock()
	h.sess = s
	h.sessMu.Unlock()
}

// generation is the current session's generation, -1 without one. A
// cooperative session keeps running across rebalances; its GenerationID
// follows them.
func (h *consumerHealth) generation() int32 {
	h.sessMu.Lock()
	defer h.sessMu.Unlock()
	if h.sess == nil {
		return -1
	}
	return h.sess.GenerationID()
}
