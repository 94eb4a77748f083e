package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// The inbox: this replica's copies, read by direct partition assignment
// from the offsets checkpointed in cluster.db (no consumer group, whose
// offsets expire), applied in offset order (README.md, "Routing").

// inboxTable names the inbox's checkpoints in the cache.
const inboxTable = "inbox"

// inboxCheckpointEvery bounds the copies applied between two checkpoints
// while copies keep coming; an idle partition is checkpointed at once.
const inboxCheckpointEvery = 1000

// inboxBatchCopies and inboxBatchBytes bound the copies already buffered
// from one partition that are applied together (applyCopies): one store
// transaction for their queued messages and the last mark.
const (
	inboxBatchCopies = 256
	inboxBatchBytes  = 1 << 20
)

// forwardRetry is the pause before a forward Kafka refused is sent again:
// a copy is never committed before its forwards are acked.
const forwardRetry = time.Second

// readInbox applies every partition of the inbox until ctx ends.
func (r *Router) readInbox(ctx context.Context, c *cache, topic string, info topicInfo) {
	cps, err := c.checkpoints(inboxTable)
	if err != nil {
		r.log.Error("cluster: inbox checkpoints; the inbox is not read", zap.Error(err))
		return
	}
	client, err := sarama.NewClient(r.node.brokers, r.node.sc)
	if err != nil {
		r.log.Error("cluster: inbox client; the inbox is not read", zap.Error(err))
		return
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		r.log.Error("cluster: inbox consumer; the inbox is not read", zap.Error(err))
		return
	}
	defer consumer.Close()
	var wg sync.WaitGroup
	for p := range info.partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cp, ok := cps[p]
			err := r.readPartition(ctx, client, consumer, c, topic, p, cp.Next, ok)
			switch {
			case err == nil || ctx.Err() != nil:
			case errors.Is(err, mqttfront.ErrServerClosed):
				r.log.Info("cluster: inbox partition stopped with the MQTT server", zap.Int32("partition", p))
			default:
				r.log.Error("cluster: inbox partition stopped; its copies wait for a restart", zap.Int32("partition", p), zap.Error(err))
			}
		}()
	}
	wg.Wait()
}

// readPartition applies one inbox partition from its checkpoint (or the
// log start) in offset order. Each copy is applied once it is delivered
// or durably queued here (mqttfront's Deliver) and its forwards are acked,
// so the checkpoint, which is the next offset, only ever covers copies
// fully applied: completion is contiguous by construction.
func (r *Router) readPartition(ctx context.Context, client sarama.Client, consumer sarama.Consumer, c *cache, topic string, p int32, next int64, checkpointed bool) error {
	oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("log start: %w", err)
	}
	if !checkpointed {
		next = oldest
	} else if next < oldest {
		r.log.Error("cluster: inbox copies were deleted by retention before this replica read them (cluster.inbox_retention)",
			zap.Int32("partition", p), zap.Int64("checkpoint", next), zap.Int64("log_start", oldest), zap.Int64("lost", oldest-next))
		next = oldest
	}
	pc, err := consumer.ConsumePartition(topic, p, next)
	if err != nil {
		return fmt.Errorf("consume from %d: %w", next, err)
	}
	defer pc.Close()
	mark := topic + "/" + strconv.Itoa(int(p))
	saved := next
	var ps partState
	save := func() error {
		cp := next
		if r.hand != nil {
			// Not past a handover whose done record is still to come.
			cp = ps.checkpoint(next, 3*r.hand.timeout)
		}
		if cp == saved {
			return nil
		}
		if err := c.commit(inboxTable, nil, map[int32]int64{p: cp}, timeNow()); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		saved = cp
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return save()
		case e := <-pc.Errors():
			if e != nil {
				r.log.Warn("cluster: inbox read error", zap.Int32("partition", p), zap.Error(e.Err))
			}
		case m := <-pc.Messages():
			ms := gather(m, pc.Messages())
			n, err := r.applyAll(ctx, ms, mark, &ps)
			if n > 0 {
				next = ms[n-1].Offset + 1
			}
			if err != nil {
				if serr := save(); serr != nil {
					r.log.Error("cluster: inbox", zap.Error(serr))
				}
				return fmt.Errorf("offset %d: %w", ms[n].Offset, err)
			}
			if len(pc.Messages()) == 0 || next-saved >= inboxCheckpointEvery {
				if err := save(); err != nil {
					return err
				}
			}
		}
	}
}

// gather returns m and the records after it already buffered in ms,
// without waiting: at most inboxBatchCopies, and no more once their
// values reach inboxBatchBytes.
func gather(m *sarama.ConsumerMessage, ms <-chan *sarama.ConsumerMessage) []*sarama.ConsumerMessage {
	out := []*sarama.ConsumerMessage{m}
	size := len(m.Value)
	for len(out) < inboxBatchCopies && size < inboxBatchBytes {
		select {
		case m, ok := <-ms:
			if !ok {
				return out
			}
			out = append(out, m)
			size += len(m.Value)
		default:
			return out
		}
	}
	return out
}

// applyAll applies records read in offset order: each run of copies
// through applyCopies (one store transaction per batch), any other record
// alone through apply. It returns how many records, from the first, were
// applied, and the error that stopped it at the next one.
func (r *Router) applyAll(ctx context.Context, ms []*sarama.ConsumerMessage, mark string, ps *partState) (int, error) {
	done := 0
	for done < len(ms) {
		run := 0
		for done+run < len(ms) {
			if kind, err := inboxKind(ms[done+run].Value); err != nil || kind != kindCopy {
				break
			}
			run++
		}
		if run == 0 {
			if err := r.apply(ctx, ms[done], mark, ps); err != nil {
				return done, err
			}
			done++
			continue
		}
		n, err := r.applyCopies(ctx, ms[done:done+run], mark)
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// applyCopies applies consecutive copy records as apply does, but
// delivers them under one hold of the route view and one mqttfront
// InboxBatch: their messages for persistent sessions and the last mark
// are written in one store transaction, before any forward of theirs is
// handed to the producer. A copy that needs forwards ends its batch: its
// forwards are acked before the next copy is delivered, as in apply.
// It returns how many copies were applied and the error that stopped it
// (a record that does not decode, ctx, or ErrServerClosed).
func (r *Router) applyCopies(ctx context.Context, ms []*sarama.ConsumerMessage, mark string) (int, error) {
	recs := make([]copyRecord, 0, len(ms))
	var decodeErr error
	for _, m := range ms {
		rec, err := decodeCopy(m.Value)
		if err != nil {
			decodeErr = err // the copies before it are applied first
			break
		}
		recs = append(recs, rec)
	}
	i := 0
	for i < len(recs) {
		// Every target of the batch held here before the route view is.
		for _, rec := range recs[i:] {
			if err := r.awaitAttached(ctx, rec.Targets); err != nil {
				return i, err
			}
		}
		r.front.HoldRoutes()
		ib, err := r.front.BeginInbox()
		if err != nil {
			r.front.ReleaseRoutes()
			return i, err
		}
		var fwd map[string][]string
		var shares map[string][]shareTarget
		var closed error
		start := i
		for i < len(recs) {
			r.stats.received.Add(1)
			fwd, shares, closed = r.deliverCopy(ib, recs[i], mqttfront.InboxMark{Name: mark, Next: uint64(ms[i].Offset) + 1})
			if closed != nil {
				break
			}
			i++
			if len(fwd) > 0 || len(shares) > 0 {
				break // forwarded before the next copy is delivered
			}
		}
		if err := ib.Commit(); errors.Is(err, mqttfront.ErrServerClosed) {
			// The store closed under the batch (the server stops first):
			// none of its copies counts as applied, so that the restart
			// reads them again (their marks are not in the store).
			r.front.ReleaseRoutes()
			return start, err
		} else if err != nil {
			r.stats.deliverErrors.Add(uint64(ib.Copies()))
			r.log.Error("cluster: copies queued in memory only", zap.Int("copies", ib.Copies()), zap.Error(err))
		}
		if closed != nil {
			r.front.ReleaseRoutes()
			return i, closed
		}
		if len(fwd) == 0 && len(shares) == 0 {
			r.front.ReleaseRoutes()
			continue
		}
		rec := recs[i-1]
		if rec.Hops >= maxForwardHops {
			r.front.ReleaseRoutes()
			r.dropHops(rec, fwd, shares)
			continue
		}
		waits := r.startForward(rec, fwd, shares)
		r.front.ReleaseRoutes()
		if err := r.finishForward(ctx, rec, waits); err != nil {
			return i - 1, err
		}
	}
	if decodeErr != nil {
		return len(recs), decodeErr
	}
	return len(recs), nil
}

// deliverCopy delivers one copy within an inbox batch (the route view
// held) and returns the forwards it needs: the sessions other replicas
// own (a stale route table at the source, or a session that moved) and
// the $share groups no member here may take. closed is ErrServerClosed.
func (r *Router) deliverCopy(ib *mqttfront.InboxBatch, rec copyRecord, mark mqttfront.InboxMark) (fwd map[string][]string, shares map[string][]shareTarget, closed error) {
	local, fwd := r.split(rec.Targets, true)
	if len(local) == 0 && len(rec.Groups) == 0 {
		return fwd, nil, nil
	}
	to := mqttfront.Targets{Clients: local}
	for _, g := range rec.Groups {
		to.Groups = append(to.Groups, g.Filter)
	}
	missing, err := ib.Deliver(rec.Msg, rec.Msg.ClientID, to, mark)
	if err != nil {
		return nil, nil, err
	}
	for _, g := range rec.Groups {
		if slices.Contains(missing.Groups, g.Filter) {
			shares = r.forwardShare(shares, rec.Msg.Topic, g) // no member here (any more) may take it
		}
	}
	if len(missing.Clients) > 0 {
		// Owned here by the log, not held by the front end: the session
		// moved meanwhile, or was handed over (forward it), or its
		// owner's claim did not attach.
		again, more := r.split(missing.Clients, false)
		for replica, ids := range more {
			fwd[replica] = append(fwd[replica], ids...)
		}
		if len(again) > 0 {
			r.stats.dropNoSession.Add(uint64(len(again)))
			r.log.Warn("cluster: copy for sessions owned here but not held; dropped",
				zap.Strings("clients", again), zap.String("topic", rec.Msg.Topic))
		}
	}
	return fwd, shares, nil
}

// dropHops counts and logs a copy forwarded too often.
func (r *Router) dropHops(rec copyRecord, fwd map[string][]string, shares map[string][]shareTarget) {
	for _, ids := range fwd {
		r.stats.dropHops.Add(uint64(len(ids)))
	}
	for _, gs := range shares {
		r.stats.dropHops.Add(uint64(len(gs)))
	}
	r.log.Error("cluster: copy forwarded too often (the replicas disagree on its sessions' owners); dropped",
		zap.String("topic", rec.Msg.Topic), zap.Uint64("hops", rec.Hops), zap.Any("owners", fwd), zap.Any("groups", shares))
}

// apply applies one inbox record: a copy (applyCopies, alone) is delivered to the sessions it
// names that this replica holds (or hands over) and forwarded to the
// owners of the others (a stale route table at the source), waiting until
// the forwards are acked; the handover's records are buffered (held),
// imported (done) or noted (fence). It returns an error only when the
// record could not be applied (it cannot be decoded, or ctx ended): it
// then stays uncommitted.
func (r *Router) apply(ctx context.Context, m *sarama.ConsumerMessage, mark string, ps *partState) error {
	kind, err := inboxKind(m.Value)
	if err != nil {
		return err // a newer replica's format: stop rather than skip (README.md, "Upgrades")
	}
	if kind != kindCopy && r.hand == nil {
		r.log.Warn("cluster: handover record in the inbox while the handover is off here; skipped", zap.Int("kind", int(kind)))
		return nil
	}
	switch kind {
	case kindFence:
		f, err := decodeFence(m.Value)
		if err != nil {
			return err
		}
		r.hand.noteFence(f)
		return nil
	case kindHeld:
		h, err := decodeHeld(m.Value)
		if err != nil {
			return err
		}
		ps.addHeld(h, m.Offset)
		return nil
	case kindHandoverDone:
		d, err := decodeDone(m.Value)
		if err != nil {
			return err
		}
		return r.hand.importDone(ctx, ps, d, mqttfront.InboxMark{Name: mark, Next: uint64(m.Offset) + 1})
	}
	_, err = r.applyCopies(ctx, []*sarama.ConsumerMessage{m}, mark)
	return err
}

// attachPoll is the pause between two looks at a session whose claim here
// is being attached.
const attachPoll = 2 * time.Millisecond

// awaitAttached waits, at most cluster.claim_timeout, until the front end
// holds the targets this replica owns by the log: between reading its own
// claim back and building the session, a CONNECT here does not hold it
// yet, and a copy routed on the new view may already be here.
func (r *Router) awaitAttached(ctx context.Context, ids []string) error {
	var deadline time.Time
	for _, id := range ids {
		for {
			o, ok := r.node.claims.Owner(id)
			if !ok || o.Replica != r.self || r.front.Holds(id) {
				break
			}
			if deadline.IsZero() {
				deadline = timeNow().Add(r.node.cfg.ClaimTimeout)
			} else if timeNow().After(deadline) {
				break // dropped by apply, counted
			}
			select {
			case <-time.After(attachPoll):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// split sorts client ids into those this replica owns (by the log) and,
// per other replica, those it owns; ids whose session ended are counted
// and dropped. handing: a session this replica is handing over counts as
// its own (copies routed here on the old view join it).
func (r *Router) split(ids []string, handing bool) (local []string, fwd map[string][]string) {
	fwd = map[string][]string{}
	for _, id := range ids {
		o, ok := r.node.claims.Owner(id)
		switch {
		case handing && r.hand.isHanding(id):
			local = append(local, id)
		case !ok:
			r.stats.dropNoSession.Add(1)
		case o.Replica == r.self:
			local = append(local, id)
		default:
			fwd[o.Replica] = append(fwd[o.Replica], id)
		}
	}
	return local, fwd
}

// forward sends the copy on to each current owner in fwd (a session's
// owner by the log, other than this replica) and waits until every
// forward is acked, retrying while Kafka refuses one: never dropped,
// never committed before.
func (r *Router) forward(ctx context.Context, rec copyRecord, fwd map[string][]string) error {
	return r.finishForward(ctx, rec, r.startForward(rec, fwd, nil))
}

// forwardWait is one forward handed to the producer.
type forwardWait struct {
	replica string
	out     copyRecord
	res     chan error
}

// startForward hands the producer one forward per replica: the sessions
// it owns (fwd) and the $share groups it is to try next (shares, a
// replica holding members: share.go), in one copy when both name it.
func (r *Router) startForward(rec copyRecord, fwd map[string][]string, shares map[string][]shareTarget) []forwardWait {
	waits := make([]forwardWait, 0, len(fwd)+len(shares))
	start := func(replica string, ids []string, gs []shareTarget) {
		fw := forwardWait{replica: replica, out: copyRecord{Source: r.self, Hops: rec.Hops + 1, Targets: ids, Groups: gs, Msg: rec.Msg}, res: make(chan error, 1)}
		res := fw.res
		r.send(replica, fw.out, newCopyWait(1, func(err error) { res <- err }))
		waits = append(waits, fw)
	}
	for replica, ids := range fwd {
		start(replica, ids, shares[replica])
	}
	for replica, gs := range shares {
		if _, done := fwd[replica]; !done {
			start(replica, nil, gs) // no session named there: the groups alone
		}
	}
	return waits
}

// finishForward waits until every forward is acked, sending a refused one
// again every forwardRetry.
func (r *Router) finishForward(ctx context.Context, rec copyRecord, waits []forwardWait) error {
	for _, fw := range waits {
		for {
			var err error
			select {
			case err = <-fw.res:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err == nil {
				r.stats.forwarded.Add(1)
				break
			}
			r.log.Warn("cluster: forward of a copy failed; retrying", zap.String("replica", fw.replica), zap.String("topic", rec.Msg.Topic), zap.Error(err))
			select {
			case <-time.After(forwardRetry):
			case <-ctx.Done():
				return ctx.Err()
			}
			res := fw.res
			r.send(fw.replica, fw.out, newCopyWait(1, func(err error) { res <- err }))
		}
	}
	return nil
}
