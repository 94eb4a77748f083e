package cluster

// The handover of what a session holds when a later claim takes it to
// another replica, and the fences that keep per-publisher order across it
// (README.md, "Handover" and "Order").
//
// Old owner A, applying the claim (epoch o, partition p) of new owner B:
// MoveSession switches the route view (its publishes now go to B) and
// closes the connection; copies routed to A on the old view keep joining
// the session. Once every live replica's fence (p, > o) is read from A's
// inbox (nothing routed on the old view follows it), or after half of
// cluster.handover_timeout, A takes what the session held (TakeHeld) and
// sends it to B's inbox as held records, then a done record, keyed A.
// B's CONNECT holds the session (queue, CONNACK) until the done record is
// imported, or cluster.handover_timeout.

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// handOffJob is one session this replica hands over.
type handOffJob struct {
	client    string
	lost, to  Owner
	partition int32
}

// handover is the router's part of sessions changing replica.
type handover struct {
	r       *Router
	timeout time.Duration // cluster.handover_timeout (> 0)

	mu       sync.Mutex
	jobs     []handOffJob
	handing  map[string]int64 // client -> lost epoch, from the claim until TakeHeld
	fences   map[string][]int64
	fenced   chan struct{} // closed and replaced when a fence is read
	fenceTo  map[string]struct{}
	jobSig   chan struct{} // 1: jobs pending
	fenceSig chan struct{} // 1: fences to send

	stats handoverStats
}

type handoverStats struct {
	out, in, heldOut, heldIn, late, holdTimeouts, fenceTimeouts, fencesSent, passedOn atomic.Uint64
}

func newHandover(r *Router, timeout time.Duration) *handover {
	return &handover{r: r, timeout: timeout, handing: map[string]int64{}, fences: map[string][]int64{},
		fenced: make(chan struct{}), fenceTo: map[string]struct{}{}, jobSig: make(chan struct{}, 1), fenceSig: make(chan struct{}, 1)}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// handOff is called by the sessions table's applier when a claim without
// clean start takes a session of this incarnation to another replica:
// the route switch happens with the session's move in the front end, and
// the handover is queued for the worker. It does not block.
func (h *handover) handOff(id string, lost, to Owner, switchRoutes func()) {
	h.mu.Lock()
	h.handing[id] = lost.Epoch
	h.mu.Unlock()
	h.r.front.MoveSession(id, lost.Epoch, switchRoutes)
	h.mu.Lock()
	h.jobs = append(h.jobs, handOffJob{client: id, lost: lost, to: to, partition: h.r.node.claims.Partition(id)})
	h.mu.Unlock()
	signal(h.jobSig)
}

// restoredMoved is called by the sessions table's applier when a claim
// without clean start takes to another replica a session an earlier run
// of this replica owned: if the front end restored it from its store, it
// is handed over (late at the new owner, whose claim had no hold). The
// route switch happens with the move. It does not block.
func (h *handover) restoredMoved(id string, to Owner, switchRoutes func()) {
	h.mu.Lock()
	h.handing[id] = mqttfront.RestoredEpoch
	h.mu.Unlock()
	held := h.r.front.MoveRestored(id, switchRoutes)
	h.mu.Lock()
	if held {
		h.jobs = append(h.jobs, handOffJob{client: id, lost: Owner{Replica: h.r.self, Epoch: mqttfront.RestoredEpoch}, to: to, partition: h.r.node.claims.Partition(id)})
	} else if h.handing[id] == mqttfront.RestoredEpoch {
		delete(h.handing, id)
	}
	h.mu.Unlock()
	if held {
		signal(h.jobSig)
	}
}

// handOffRestored hands over, once the node is ready and the front end
// serves, before the inbox is read, every session the front end restored
// from its store that the log says another replica owns now: a claim took
// it while this replica was down (a rolling restart). Without it, what
// the session held here stayed, or was dropped (session_moved) when its
// device came back here.
func (h *handover) handOffRestored() {
	for _, id := range h.r.front.Restored() {
		o, ok := h.r.node.claims.Owner(id)
		if !ok || o.Replica == h.r.self {
			continue // ended, or still this replica's: the local session is the session
		}
		h.r.log.Info("cluster: a session restored from the store moved while this replica was down; handing it over",
			zap.String("client", id), zap.String("to", o.Replica), zap.Int64("epoch", o.Epoch))
		h.restoredMoved(id, o, nil)
	}
}

// isHanding: copies for id still join its session here (it is being
// handed over).
func (h *handover) isHanding(id string) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	_, ok := h.handing[id]
	h.mu.Unlock()
	return ok
}

// ownerMoved is called by the sessions table's applier when a claim took
// a session from replica from to another one: from gets a fence, so that
// it knows when every copy this replica routed to it on the older view
// has arrived.
func (h *handover) ownerMoved(from string) {
	h.mu.Lock()
	h.fenceTo[from] = struct{}{}
	h.mu.Unlock()
	signal(h.fenceSig)
}

// run hands sessions over and sends fences until ctx ends; it returns
// once every handover it started has returned.
func (h *handover) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.sendFences(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.jobSig:
		}
		h.mu.Lock()
		jobs := h.jobs
		h.jobs = nil
		h.mu.Unlock()
		for _, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.handOver(ctx, j)
			}()
		}
	}
}

// handOver sends what the session held to its new owner.
func (h *handover) handOver(ctx context.Context, j handOffJob) {
	log := h.r.log.With(zap.String("client", j.client), zap.String("to", j.to.Replica), zap.Int64("epoch", j.to.Epoch))
	start := time.Now()
	h.waitFences(ctx, j, log)
	fenced := time.Since(start)
	held, err := h.r.front.TakeHeld(ctx, j.client, j.lost.Epoch)
	taken := time.Since(start)
	h.mu.Lock()
	if h.handing[j.client] == j.lost.Epoch {
		delete(h.handing, j.client)
	}
	h.mu.Unlock()
	if err != nil {
		return // stopping: the messages stay in this replica's store
	}
	recs := make([][]byte, 0, 1)
	done := doneRecord{Source: h.r.self, ClientID: j.client, Epoch: j.to.Epoch}
	if held != nil {
		for i, m := range held.Held {
			recs = append(recs, heldRecord{Source: h.r.self, ClientID: j.client, Epoch: j.to.Epoch, Index: uint64(i), Held: m}.encode())
		}
		done.Held, done.InboundQoS2 = uint64(len(held.Held)), held.InboundQoS2
	}
	recs = append(recs, done.encode())
	for {
		res := make(chan error, 1)
		w := newCopyWait(len(recs), func(err error) { res <- err })
		for _, v := range recs {
			h.r.produce(j.to.Replica, v, w)
		}
		select {
		case err = <-res:
		case <-ctx.Done():
			return
		}
		if err == nil {
			break
		}
		log.Warn("cluster: handover not taken by Kafka; retrying", zap.Error(err))
		select {
		case <-time.After(forwardRetry):
		case <-ctx.Done():
			return
		}
	}
	h.r.front.HandedOver(held)
	h.stats.out.Add(1)
	h.stats.heldOut.Add(done.Held)
	log.Debug("cluster: session handed over", zap.Uint64("messages", done.Held), zap.Int("inbound_qos2", len(done.InboundQoS2)),
		zap.Duration("fences_after", fenced), zap.Duration("taken_after", taken), zap.Duration("took", time.Since(start)))
}

// waitFences returns once every other live replica's fence says it has
// applied the claim (so everything it routed to this replica on the older
// view is in this replica's inbox before the fence, and was applied), or
// after half the handover timeout, so that the new owner, which waits the
// whole timeout from its claim, still gets the handover in time.
func (h *handover) waitFences(ctx context.Context, j handOffJob, log *zap.Logger) {
	deadline := time.NewTimer(h.timeout / 2)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond) // the registry's view changes without a signal
	defer tick.Stop()
	for {
		h.mu.Lock()
		var missing []string
		for _, rep := range h.r.node.registry.Live() {
			if rep.ID == h.r.self {
				continue
			}
			if f := h.fences[rep.ID]; int(j.partition) >= len(f) || f[j.partition] <= j.to.Epoch {
				missing = append(missing, rep.ID)
			}
		}
		fenced := h.fenced
		h.mu.Unlock()
		if len(missing) == 0 {
			return
		}
		select {
		case <-fenced:
		case <-tick.C:
		case <-ctx.Done():
			return
		case <-deadline.C:
			h.stats.fenceTimeouts.Add(1)
			log.Warn("cluster: handover without the fences of some replicas: their copies routed here on the old view may reach the new owner after newer ones",
				zap.Strings("replicas", missing))
			return
		}
	}
}

// noteFence records a fence read from this replica's inbox.
func (h *handover) noteFence(f fenceRecord) {
	h.mu.Lock()
	cur := h.fences[f.Source]
	if len(cur) < len(f.Next) {
		cur = append(cur, make([]int64, len(f.Next)-len(cur))...)
	}
	for p, n := range f.Next {
		cur[p] = max(cur[p], n)
	}
	h.fences[f.Source] = cur
	close(h.fenced)
	h.fenced = make(chan struct{})
	h.mu.Unlock()
}

// sendFences sends this replica's fence to the replicas that need one:
// every live replica once the inbox runs, then each replica a claim took
// a session from. The barrier makes every copy routed on an older view
// precede the fence in the target's inbox partition.
func (h *handover) sendFences(ctx context.Context) {
	select {
	case <-h.r.node.ready:
	case <-ctx.Done():
		return
	}
	select {
	case <-h.r.front.Ready():
	case <-ctx.Done():
		return
	}
	h.mu.Lock()
	for _, rep := range h.r.node.registry.Live() {
		if rep.ID != h.r.self {
			h.fenceTo[rep.ID] = struct{}{}
		}
	}
	h.mu.Unlock()
	signal(h.fenceSig)
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.fenceSig:
		}
		h.mu.Lock()
		to := make([]string, 0, len(h.fenceTo))
		for id := range h.fenceTo {
			to = append(to, id)
		}
		clear(h.fenceTo)
		h.mu.Unlock()
		if len(to) == 0 {
			continue
		}
		v := h.r.node.claims.fenceView()
		h.r.front.RoutesBarrier()
		rec := fenceRecord{Source: h.r.self, Next: v}.encode()
		for _, id := range to {
			h.r.produce(id, rec, newCopyWait(1, nil))
			h.stats.fencesSent.Add(1)
		}
	}
}

// pendingKey names one handover arriving in an inbox partition.
type pendingKey struct {
	source, client string
	epoch          int64
}

// pendingHandover is the held records of one handover read so far.
type pendingHandover struct {
	first int64 // offset of its first held record: the checkpoint stays below it
	since time.Time
	held  map[uint64]mqttfront.HeldMessage
}

// partState is what an inbox partition's reader keeps between records.
type partState struct {
	pending map[pendingKey]*pendingHandover
}

// checkpoint is the offset the partition may be checkpointed at: next,
// or the first held record of a handover whose done record is still to
// come (re-read after a restart), unless it waited longer than
// pendingBound (its sender died mid-way: what it held stays in its store).
func (ps *partState) checkpoint(next int64, bound time.Duration) int64 {
	cp := next
	for _, p := range ps.pending {
		if p.first < cp && timeNow().Sub(p.since) < bound {
			cp = p.first
		}
	}
	return cp
}

func (ps *partState) addHeld(r heldRecord, offset int64) {
	k := pendingKey{r.Source, r.ClientID, r.Epoch}
	p := ps.pending[k]
	if p == nil {
		if ps.pending == nil {
			ps.pending = map[pendingKey]*pendingHandover{}
		}
		p = &pendingHandover{first: offset, since: timeNow(), held: map[uint64]mqttfront.HeldMessage{}}
		ps.pending[k] = p
	}
	p.held[r.Index] = r.Held // a retried handover sends its records again
}

// importDone gives the session what the old owner held (its held records,
// read before in this partition); if this replica no longer holds the
// session under that epoch, the messages go on to its owner as copies.
func (h *handover) importDone(ctx context.Context, ps *partState, d doneRecord, mark mqttfront.InboxMark) error {
	k := pendingKey{d.Source, d.ClientID, d.Epoch}
	p := ps.pending[k]
	delete(ps.pending, k)
	hv := &mqttfront.Handover{ClientID: d.ClientID, Epoch: d.Epoch, InboundQoS2: d.InboundQoS2}
	for i := range d.Held {
		m, ok := p.heldAt(i)
		if !ok {
			h.r.log.Error("cluster: handover record missing (its inbox records were deleted by retention?)",
				zap.String("client", d.ClientID), zap.String("from", d.Source), zap.Uint64("index", i))
			continue
		}
		hv.Held = append(hv.Held, m)
	}
	ok, late, err := h.importWhenHeld(ctx, hv, mark)
	if errors.Is(err, mqttfront.ErrServerClosed) || errors.Is(err, ctx.Err()) && ctx.Err() != nil {
		return err
	}
	if err != nil {
		h.r.stats.deliverErrors.Add(1)
		h.r.log.Error("cluster: handover imported in memory only", zap.String("client", d.ClientID), zap.Error(err))
	}
	if ok {
		h.stats.in.Add(1)
		h.stats.heldIn.Add(uint64(len(hv.Held)))
		if late {
			h.stats.late.Add(1)
			h.r.log.Warn("cluster: handover arrived after its hold ended; its messages follow what was delivered meanwhile",
				zap.String("client", d.ClientID), zap.String("from", d.Source), zap.Int("messages", len(hv.Held)))
		}
		return nil
	}
	// The session moved on (or ended) before its handover arrived: its
	// messages go to the current owner as copies (order with what that
	// owner has is not kept; nothing is lost while a session exists).
	if len(hv.Held) == 0 {
		return nil
	}
	h.stats.passedOn.Add(uint64(len(hv.Held)))
	for _, m := range hv.Held {
		rec := copyRecord{Source: d.Source, Hops: 1, Targets: []string{d.ClientID}, Msg: m.Msg}
		_, fwd := h.r.split(rec.Targets, false)
		if len(fwd) == 0 {
			continue // ended: counted by split
		}
		if err := h.r.forward(ctx, rec, fwd); err != nil {
			return err
		}
	}
	return nil
}

// importWhenHeld imports hv; while this replica owns the session under
// hv's epoch by the log but its CONNECT has not built the session yet
// (the old owner can be that fast), it tries again, at most
// cluster.claim_timeout.
func (h *handover) importWhenHeld(ctx context.Context, hv *mqttfront.Handover, mark mqttfront.InboxMark) (ok, late bool, err error) {
	deadline := timeNow().Add(h.r.node.cfg.ClaimTimeout)
	for {
		ok, late, err = h.r.front.Import(hv, mark)
		if ok || err != nil {
			return ok, late, err
		}
		if o, owned := h.r.node.claims.Owner(hv.ClientID); !owned || o.Replica != h.r.self || o.Epoch != hv.Epoch || timeNow().After(deadline) {
			return false, false, nil
		}
		select {
		case <-time.After(attachPoll):
		case <-ctx.Done():
			return false, false, ctx.Err()
		}
	}
}

func (p *pendingHandover) heldAt(i uint64) (mqttfront.HeldMessage, bool) {
	if p == nil {
		return mqttfront.HeldMessage{}, false
	}
	m, ok := p.held[i]
	return m, ok
}

// fenceView is this replica's view of the sessions topic: per partition, the
// next offset its route table has applied (a fence's content).
func (c *Claims) fenceView() []int64 {
	t := c.table
	t.mu.Lock()
	v := slices.Clone(t.applied)
	t.mu.Unlock()
	c.mu.Lock()
	for p, n := range c.seen {
		if p < len(v) {
			v[p] = max(v[p], n)
		}
	}
	c.mu.Unlock()
	return v
}

// holdFor is the hold of a claim that took a session from before: the
// handover timeout when before is another live replica's running
// incarnation that will hand over, else 0 (nothing will come: no hold).
func (h *handover) holdFor(before Owner) time.Duration {
	if h == nil || before.Replica == "" || before.Replica == h.r.self {
		return 0
	}
	for _, rep := range h.r.node.registry.Live() {
		if rep.ID == before.Replica && rep.Incarnation == before.Incarnation {
			return h.timeout
		}
	}
	return 0
}
