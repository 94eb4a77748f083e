package cluster

// The read barrier: "a publish from the downlink reaches every matching
// subscriber on every replica, exactly as on one node" (issue 12). A
// SUBACK goes out once the subscription's record is in the sessions log,
// but another replica applies that record a little later (a fetch round,
// milliseconds; seconds on a loaded machine). A command consumed there in
// between would find no route to the device and be committed: lost for a
// device that was told its subscription holds. Before the downlink hands a
// record to the front end, it waits on Synced: every sessions record that
// was in Kafka when the record was handed over is applied here first.
//
// One round asks the sessions partitions' high-water marks (one
// ListOffsets request per leader, on the router's client: the node's
// shared client queues requests behind the tables' long polls). Callers
// that arrive while a round runs share the next round, which starts after
// all of them arrived: the cost is one round trip per batch of waiting
// callers, not per record.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
)

// barrier coalesces high-water-mark rounds. A caller joins the round
// that has not started yet (creating it if needed), so the round it gets
// began after it arrived; the first caller of a round with none running
// runs it, and hands the next round, when one has callers, to one of them.
type barrier struct {
	mu      sync.Mutex
	running bool
	next    *barrierRound // callers waiting for a round that has not started
	rounds  atomic.Uint64 // rounds run (metrics)
}

type barrierRound struct {
	start  chan struct{} // closed when one of the round's callers must run it
	done   chan struct{} // closed when hw/err are set
	runner atomic.Bool
	joined int // callers that joined it while another round ran (b.mu)
	hw     []int64
	err    error
}

func newBarrierRound() *barrierRound {
	return &barrierRound{start: make(chan struct{}), done: make(chan struct{})}
}

// highWater returns high-water marks fetched by a round that started
// after the call, or ctx's error. fetch runs in the caller's goroutine
// (one caller per round); it must not block without bound (sarama's
// request timeouts bound it).
func (b *barrier) highWater(ctx context.Context, fetch func() ([]int64, error)) ([]int64, error) {
	b.mu.Lock()
	if b.next == nil {
		b.next = newBarrierRound()
	}
	r := b.next
	if !b.running {
		b.running, b.next = true, nil
		r.runner.Store(true)
		b.mu.Unlock()
		b.run(r, fetch)
		return r.hw, r.err
	}
	r.joined++
	b.mu.Unlock()
	select {
	case <-r.start:
		if r.runner.CompareAndSwap(false, true) {
			b.run(r, fetch)
		}
	case <-r.done:
	case <-ctx.Done():
		if r.runner.CompareAndSwap(false, true) {
			// No other caller took the round: run it once it may
			// start (the running round's fetch bounds the wait), or
			// the callers after this one would wait for ever.
			<-r.start
			b.run(r, fetch)
		}
		return nil, ctx.Err()
	}
	select {
	case <-r.done:
		return r.hw, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run fetches for round r, then starts the round that gathered callers
// meanwhile (one of them runs it) or marks the barrier idle.
func (b *barrier) run(r *barrierRound, fetch func() ([]int64, error)) {
	r.hw, r.err = fetch()
	b.rounds.Add(1)
	close(r.done)
	b.mu.Lock()
	next := b.next
	b.next = nil
	b.running = next != nil
	b.mu.Unlock()
	if next != nil {
		close(next.start)
	}
}

// errNotRunning: the barrier was asked before the router runs (or after
// it stopped).
var errNotRunning = errors.New("cluster routing is not running")

// Synced returns once this replica has applied every sessions record
// that was in Kafka when Synced was called (a subscription acknowledged
// anywhere in the cluster before then is in this replica's route table),
// or with an error: ctx's, or Kafka's for the high-water marks.
func (r *Router) Synced(ctx context.Context) error {
	t := r.node.claims.table
	if t == nil {
		return fmt.Errorf("cluster: read barrier: %w", errNotRunning)
	}
	hw, err := r.sync.highWater(ctx, r.sessionsHighWater)
	if err != nil {
		return fmt.Errorf("cluster: read barrier: %w", err)
	}
	for p, o := range hw {
		if o <= 0 {
			continue
		}
		if err := t.WaitApplied(ctx, int32(p), o-1); err != nil {
			return fmt.Errorf("cluster: read barrier: %w", err)
		}
	}
	return nil
}

// sessionsHighWater asks the leaders of the sessions partitions for their
// high-water marks, one request per leader.
func (r *Router) sessionsHighWater() ([]int64, error) {
	r.mu.RLock()
	client := r.client
	r.mu.RUnlock()
	if client == nil {
		return nil, errNotRunning
	}
	topic, n := r.node.cfg.sessionsTopic(), r.node.claims.partitions
	reqs := map[*sarama.Broker]*sarama.OffsetRequest{}
	for p := range n {
		leader, err := client.Leader(topic, p)
		if err != nil {
			return nil, fmt.Errorf("leader of %s/%d: %w", topic, p, err)
		}
		req := reqs[leader]
		if req == nil {
			req = sarama.NewOffsetRequest(r.node.sc.Version)
			reqs[leader] = req
		}
		req.AddBlock(topic, p, sarama.OffsetNewest, 1)
	}
	hw := make([]int64, n)
	answered := 0
	for broker, req := range reqs {
		resp, err := broker.GetAvailableOffsets(req)
		if err != nil {
			return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
		}
		for p := range n {
			blk := resp.GetBlock(topic, p)
			if blk == nil {
				continue // asked of another leader
			}
			if !errors.Is(blk.Err, sarama.ErrNoError) {
				return nil, fmt.Errorf("list offsets of %s/%d: %w", topic, p, blk.Err)
			}
			if len(blk.Offsets) != 1 {
				return nil, fmt.Errorf("list offsets of %s/%d: %d offsets in the answer", topic, p, len(blk.Offsets))
			}
			hw[p] = blk.Offsets[0]
			answered++
		}
	}
	if answered != int(n) {
		return nil, fmt.Errorf("list offsets of %s: %d of %d partitions answered", topic, answered, n)
	}
	return hw, nil
}
