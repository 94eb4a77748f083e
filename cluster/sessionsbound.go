package cluster

// Bounded session writes (cluster/README.md "Failures", Kafka
// unreachable). sarama's SyncProducer takes no context: with Kafka hung
// (connections accepted and never answered, a SIGSTOPped broker) one
// SendMessage lasts Producer.Retry.Max × Net.ReadTimeout, minutes. A
// device's CONNECT or SUBSCRIBE must not wait that long: it gets its
// refusal (v5 CONNACK 0x88 / v3 0x03, SUBACK 0x80) once ctx ends, which
// Sessions bounds by cluster.claim_timeout.

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrSessionsUnreachable: a session record was not acknowledged by Kafka
// within cluster.claim_timeout, or an earlier one to the same sessions
// partition is still unacknowledged (Kafka is unreachable or hung).
var ErrSessionsUnreachable = errors.New("sessions topic unreachable")

// stuckWrites counts, per sessions partition, the writes whose caller
// gave up (ctx ended) while their produce is still in sarama's hands.
// While a partition has one, later writes to it are refused at once
// instead of queueing behind it: each would wait its whole timeout, and
// the goroutines holding them would pile up for as long as Kafka is away.
type stuckWrites struct {
	mu sync.Mutex
	n  map[int32]int
}

func (s *stuckWrites) get(p int32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[p]
}

func (s *stuckWrites) add(p int32, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[int32]int{}
	}
	s.n[p] += d
	if s.n[p] <= 0 {
		delete(s.n, p)
	}
}

// bounded runs op (a produce to sessions partition p and its read-back)
// and returns its error, or gives up when ctx ends first. op keeps
// running on its goroutine until sarama gives up or Kafka answers (op
// must return promptly once ctx ended, apart from the produce itself);
// the partition counts as stuck meanwhile. The node's stop waits for it
// (Claims.stopWrites waits for every produce in flight).
//
// A record whose produce succeeds after its caller gave up is in the log
// although the device was refused: a late claim makes this replica the
// owner of a session it does not hold (its device retries and claims
// again), a late state record carries a change the device was told
// failed until the owner's next write replaces it. Both were possible
// before, with a read-back slower than the timeout; README, "Failures".
func (s *Sessions) bounded(ctx context.Context, p int32, op func(context.Context) error) error {
	if n := s.stuck.get(p); n > 0 {
		return fmt.Errorf("%w: %d earlier write(s) to sessions partition %d still unacknowledged after cluster.claim_timeout", ErrSessionsUnreachable, n, p)
	}
	var (
		mu        sync.Mutex
		finished  bool
		abandoned bool
	)
	res := make(chan error, 1)
	go func() {
		err := op(ctx)
		mu.Lock()
		finished = true
		gone := abandoned
		mu.Unlock()
		if gone {
			s.stuck.add(p, -1)
		}
		res <- err
	}()
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	if finished {
		return <-res
	}
	abandoned = true
	s.stuck.add(p, 1)
	return fmt.Errorf("%w: not acknowledged within cluster.claim_timeout (%v): %w", ErrSessionsUnreachable, s.timeout, ctx.Err())
}
