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
	save := func() error {
		if next == saved {
			return nil
		}
		if err := c.commit(inboxTable, nil, map[int32]int64{p: next}, timeNow()); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		saved = next
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
			if err := r.apply(ctx, m, mark); err != nil {
				if serr := save(); serr != nil {
					r.log.Error("cluster: inbox", zap.Error(serr))
				}
				return fmt.Errorf("offset %d: %w", m.Offset, err)
			}
			next = m.Offset + 1
			if len(pc.Messages()) == 0 || next-saved >= inboxCheckpointEvery {
				if err := save(); err != nil {
					return err
				}
			}
		}
	}
}

// apply delivers one copy to the sessions it names that this replica
// owns and forwards the others to their owners (a stale route table at
// the source), waiting until the forwards are acked. It returns an error
// only when the copy could not be applied (it cannot be decoded, or ctx
// ended): the copy then stays uncommitted.
func (r *Router) apply(ctx context.Context, m *sarama.ConsumerMessage, mark string) error {
	rec, err := decodeCopy(m.Value)
	if err != nil {
		return err // a newer replica's format: stop rather than skip (README.md, "Upgrades")
	}
	r.stats.received.Add(1)
	local, fwd := r.split(rec.Targets)
	var shares map[string][]shareTarget // $share groups to forward, by replica (share.go)
	if len(local) > 0 || len(rec.Groups) > 0 {
		to := mqttfront.Targets{Clients: local}
		for _, g := range rec.Groups {
			to.Groups = append(to.Groups, g.Filter)
		}
		missing, err := r.front.DeliverTargets(rec.Msg, rec.Msg.ClientID, to, mqttfront.InboxMark{Name: mark, Next: uint64(m.Offset) + 1})
		if errors.Is(err, mqttfront.ErrServerClosed) {
			return err
		}
		if err != nil {
			r.stats.deliverErrors.Add(1)
			r.log.Error("cluster: copy queued in memory only", zap.String("topic", rec.Msg.Topic), zap.Error(err))
		}
		for _, g := range rec.Groups {
			if slices.Contains(missing.Groups, g.Filter) {
				shares = r.forwardShare(shares, rec.Msg.Topic, g) // no member here (any more) may take it
			}
		}
		if len(missing.Clients) > 0 {
			// Owned here by the log, not held by the front end: the
			// session moved meanwhile (forward it) or its owner's claim
			// is still being attached.
			again, more := r.split(missing.Clients)
			for replica, ids := range more {
				fwd[replica] = append(fwd[replica], ids...)
			}
			if len(again) > 0 {
				r.stats.dropNoSession.Add(uint64(len(again)))
				r.log.Warn("cluster: copy for sessions owned here but not held; dropped",
					zap.Strings("clients", again), zap.String("topic", rec.Msg.Topic))
			}
		}
	}
	if len(fwd) == 0 && len(shares) == 0 {
		return nil
	}
	if rec.Hops >= maxForwardHops {
		for _, ids := range fwd {
			r.stats.dropHops.Add(uint64(len(ids)))
		}
		for _, gs := range shares {
			r.stats.dropHops.Add(uint64(len(gs)))
		}
		r.log.Error("cluster: copy forwarded too often (the replicas disagree on its sessions' owners); dropped",
			zap.String("topic", rec.Msg.Topic), zap.Uint64("hops", rec.Hops), zap.Any("owners", fwd), zap.Any("groups", shares))
		return nil
	}
	for replica, ids := range fwd {
		if err := r.forward(ctx, replica, copyRecord{Source: r.self, Hops: rec.Hops + 1, Targets: ids, Groups: shares[replica], Msg: rec.Msg}); err != nil {
			return err
		}
	}
	for replica, gs := range shares {
		if _, done := fwd[replica]; done {
			continue
		}
		if err := r.forward(ctx, replica, copyRecord{Source: r.self, Hops: rec.Hops + 1, Groups: gs, Msg: rec.Msg}); err != nil {
			return err
		}
	}
	return nil
}

// split sorts client ids into those this replica owns (by the log) and,
// per other replica, those it owns; ids whose session ended are counted
// and dropped.
func (r *Router) split(ids []string) (local []string, fwd map[string][]string) {
	fwd = map[string][]string{}
	for _, id := range ids {
		o, ok := r.node.claims.Owner(id)
		switch {
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

// forward sends the copy out on to replica (a session's current owner, or
// another holder of a $share group's members) and waits until it is
// acked, retrying while Kafka refuses it: never dropped, never committed
// before.
func (r *Router) forward(ctx context.Context, replica string, out copyRecord) error {
	for {
		res := make(chan error, 1)
		r.send(replica, out, newCopyWait(1, func(err error) { res <- err }))
		var err error
		select {
		case err = <-res:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err == nil {
			r.stats.forwarded.Add(1)
			return nil
		}
		r.log.Warn("cluster: forward of a copy failed; retrying", zap.String("replica", replica), zap.Error(err))
		select {
		case <-time.After(forwardRetry):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
