package kafka

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
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
}

// consumerHealth is the part of Consumer that records errors.
type consumerHealth struct {
	joined atomic.Bool
	count  [len(errorKinds)]atomic.Uint64

	mu      sync.Mutex
	lastErr error
	lastAt  time.Time
}

func (h *consumerHealth) noteError(err error) {
	if err == nil {
		return
	}
	kind := ErrorKind(err)
	for i, k := range errorKinds {
		if k == kind {
			h.count[i].Add(1)
		}
	}
	h.mu.Lock()
	h.lastErr, h.lastAt = err, time.Now()
	h.mu.Unlock()
}

// Health returns the consumer's state: partitions held, lag and the last
// error.
func (c *Consumer) Health() ConsumerHealth {
	h := ConsumerHealth{Joined: c.health.joined.Load(), Lag: c.Lag(), Errors: make(map[string]uint64, len(errorKinds))}
	c.mu.Lock()
	for st := range c.claims {
		h.Partitions = append(h.Partitions, fmt.Sprintf("%s/%d", st.claim.Topic(), st.claim.Partition()))
	}
	c.mu.Unlock()
	slices.Sort(h.Partitions)
	for i, k := range errorKinds {
		h.Errors[k] = c.health.count[i].Load()
	}
	c.health.mu.Lock()
	if c.health.lastErr != nil {
		h.LastError, h.LastErrorKind, h.LastErrorAt = c.health.lastErr.Error(), ErrorKind(c.health.lastErr), c.health.lastAt
	}
	c.health.mu.Unlock()
	return h
}
