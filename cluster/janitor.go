package cluster

// The janitor: one live replica, elected by Kafka, ends the connections of
// dead replicas' online sessions and fires their wills exactly once, by
// log order in each session's partition (README.md, "Wills of dead
// replicas").

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// WillPublisher is the front end's side of the wills of dead replicas
// (*mqttfront.Server implements it).
type WillPublisher interface {
	// DeliverWill delivers a reaped session's will to this replica's own
	// subscribers; every replica does it when it applies the reap. It
	// must not block.
	DeliverWill(m *mqttfront.Message)
	// UplinkWill retains the will (if Retain) and hands it to the Sink;
	// done once both confirmed. Only the janitor that fired it calls it.
	UplinkWill(m *mqttfront.Message, done func(error))
	// SupersedeReaped closes a connection this replica still holds under
	// epoch (it was taken for dead) without publishing its will again.
	// It must not block.
	SupersedeReaped(clientID string, epoch int64)
}

// Failpoints of the janitor (failpoint.go).
const (
	// FailpointReaped: the reaps of a sweep are read back (their wills
	// delivered by every replica), their uplinks not started.
	FailpointReaped = "janitor.reaped"
	// FailpointUplinked: the uplinks are confirmed by the Sink, the
	// confirming state records not written.
	FailpointUplinked = "janitor.uplinked"
)

// janitorBatch bounds the sessions one sweep reaps or confirms.
const janitorBatch = 1000

// JanitorStats counts what the janitor did (metrics).
type JanitorStats struct {
	Held           bool   // this replica holds the janitor role now
	DeadReplicas   uint64 // replica incarnations found dead while holding the role
	SessionsReaped uint64 // reaps this replica wrote that were valid
	WillsFired     uint64 // of those, the ones that fired a will
	UplinksRedone  uint64 // wills whose uplink this janitor redid for a janitor that died before confirming
	ReapsApplied   uint64 // valid reaps applied by this replica's reader (every replica)
}

// Janitor holds, on the one replica the consumer group elects, the janitor
// role. New (via the node) starts nothing; the node runs it once ready if
// a front end was attached.
type Janitor struct {
	cfg      Config
	id       string
	inc      uint64
	claims   *Claims
	registry *Registry
	log      *zap.Logger
	wills    WillPublisher
	// failpoint, when set, is asked at each failpoint; true crashes the
	// node there (failpoint.go). crash is set by the node's Run.
	failpoint atomic.Pointer[func(point string) bool]
	crash     func()

	held                        atomic.Bool
	dead, reaped, fired, redone atomic.Uint64
	// The janitor's goroutine only: owners suspected (no matching
	// heartbeat) since, dead from (broker clock), and unconfirmed reaps
	// seen since (local clock); grace is how long another janitor's
	// unconfirmed reap is left to it.
	suspects     map[Owner]time.Time
	deadFrom     map[Owner]time.Time
	pendingSince map[string]time.Time
	grace        time.Duration
}

func newJanitor(cfg Config, id string, inc uint64, c *Claims, r *Registry, log *zap.Logger) *Janitor {
	return &Janitor{cfg: cfg, id: id, inc: inc, claims: c, registry: r, log: log.Named("janitor"),
		grace: cfg.ClaimTimeout}
}

// Attach sets the front end that delivers and uplinks the wills; call it
// before the node's Run. Without it this replica delivers no reaped will
// and never takes the janitor role.
func (j *Janitor) Attach(w WillPublisher) {
	j.wills = w
	j.claims.onWill = w.DeliverWill
	j.claims.onReaped = func(id string, lost Owner) { w.SupersedeReaped(id, lost.Epoch) }
}

// Stats returns what the janitor did.
func (j *Janitor) Stats() JanitorStats {
	return JanitorStats{Held: j.held.Load(), DeadReplicas: j.dead.Load(), SessionsReaped: j.reaped.Load(),
		WillsFired: j.fired.Load(), UplinksRedone: j.redone.Load(), ReapsApplied: j.claims.reaps.Load()}
}

// Held says whether this replica holds the janitor role now.
func (j *Janitor) Held() bool { return j.held.Load() }

// run joins the janitor group until ctx ends: the member assigned the
// group topic's one partition holds the role.
func (j *Janitor) run(ctx context.Context, client sarama.Client) {
	topic := j.cfg.janitorTopic()
	group, err := sarama.NewConsumerGroupFromClient(topic, client)
	if err != nil {
		j.log.Error("cluster: janitor group", zap.Error(err))
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer func() { _ = group.Close() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for err := range group.Errors() {
			j.log.Debug("cluster: janitor group", zap.Error(err))
		}
	}()
	h := janitorHandler{j}
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
			j.log.Warn("cluster: janitor group", zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

type janitorHandler struct{ j *Janitor }

func (janitorHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (janitorHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim is called for the one partition: this replica holds the
// role until the session ends (a rebalance, or shutdown).
func (h janitorHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	h.j.hold(s.Context(), c.Messages())
	return nil
}

// hold sweeps every heartbeat interval while this replica holds the role.
func (j *Janitor) hold(ctx context.Context, msgs <-chan *sarama.ConsumerMessage) {
	j.held.Store(true)
	defer j.held.Store(false)
	j.log.Info("cluster: janitor role taken")
	defer j.log.Info("cluster: janitor role released")
	j.suspects, j.deadFrom, j.pendingSince = map[Owner]time.Time{}, map[Owner]time.Time{}, map[string]time.Time{}
	tick := time.NewTicker(j.cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-msgs: // the topic stays empty; drained anyway
		case <-tick.C:
			if !j.sweep(ctx) {
				return
			}
		}
	}
}

// detect updates the dead owners: an owner (replica, incarnation) of a
// session is dead when the registry's heartbeat of that incarnation is
// older than cluster.replica_timeout in the broker's clock (now: the
// newest heartbeat timestamp this replica applied) and did not say it
// was stopping; or when no heartbeat of that incarnation has been the
// replica's latest for longer than the timeout (it was restarted, or
// never seen), counted from when this janitor first noticed.
func (j *Janitor) detect(now time.Time) {
	owners := j.claims.owners()
	timeout := j.cfg.ReplicaTimeout
	// After a silence of the whole log (Kafka away for everyone), a
	// replica's last heartbeat before it proves nothing: it gets a
	// timeout from the log's return, plus one more for its producer to
	// reconnect (sarama's circuit breaker holds a failed partition ~10 s).
	var grace time.Time
	if resumed := j.registry.logResumed(); !resumed.IsZero() {
		grace = resumed.Add(timeout)
	}
	for o, n := range owners {
		if o.Replica == j.id && o.Incarnation == j.inc {
			continue
		}
		if _, ok := j.deadFrom[o]; ok {
			continue
		}
		rep, ok := j.registry.lookup(o.Replica)
		var from time.Time
		if ok && rep.Incarnation == o.Incarnation {
			delete(j.suspects, o)
			last := rep.LastSeen
			if grace.After(last) {
				last = grace
			}
			if rep.State == replicaStopping || now.Sub(last) <= timeout {
				continue
			}
			from = last.Add(timeout)
		} else {
			first, seen := j.suspects[o]
			if !seen {
				j.suspects[o] = now
				continue
			}
			if now.Sub(first) <= timeout {
				continue
			}
			from = first.Add(timeout)
		}
		j.deadFrom[o] = from
		j.dead.Add(1)
		j.log.Warn("cluster: janitor: replica dead; its online sessions go offline and their wills fire",
			zap.String("replica", o.Replica), zap.Uint64("incarnation", o.Incarnation), zap.Int("sessions", n),
			zap.Time("last_heartbeat", rep.LastSeen), zap.Time("dead_from", from))
	}
	for o := range j.deadFrom {
		if owners[o] == 0 {
			delete(j.deadFrom, o)
			delete(j.suspects, o)
		}
	}
}

// willDue is when, in the broker's clock, the will of an online session
// of an owner dead from `from` fires: after its will delay, or at the
// session's end if that comes first [MQTT-3.1.3-9]; at once without a
// will (the session only goes offline).
func willDue(from time.Time, st *mqttfront.SessionState) time.Time {
	if st.Will == nil {
		return from
	}
	return from.Add(time.Duration(min(st.WillDelay, st.Expiry)) * time.Second)
}

// sweep reaps the due online sessions of dead owners and confirms reaps;
// false when a failpoint crashed the node.
func (j *Janitor) sweep(ctx context.Context) bool {
	now := j.registry.brokerNow()
	j.detect(now)
	views := j.claims.sessionsWhere(janitorBatch, func(o Owner, st *mqttfront.SessionState, unconfirmed bool) bool {
		if unconfirmed {
			return true
		}
		from, dead := j.deadFrom[Owner{Replica: o.Replica, Incarnation: o.Incarnation}]
		return dead && st.DisconnectedAt.IsZero() && !now.Before(willDue(from, st))
	})
	if len(views) == 0 {
		return true
	}
	var toReap, toConfirm []sessionView
	local := time.Now()
	for _, v := range views {
		if !v.unconfirmed {
			toReap = append(toReap, v)
			continue
		}
		// Another janitor's reap, or ours left by an error: confirm it once
		// its janitor had the time to (grace).
		since, ok := j.pendingSince[v.id]
		if !ok {
			j.pendingSince[v.id] = local
			continue
		}
		if local.Sub(since) >= j.grace {
			toConfirm = append(toConfirm, v)
			j.redone.Add(1)
		}
	}
	confirmed, err := j.reap(ctx, toReap)
	if err != nil {
		j.log.Warn("cluster: janitor: reap", zap.Error(err))
	}
	toConfirm = append(toConfirm, confirmed...)
	if j.at(FailpointReaped) {
		return false
	}
	toConfirm = j.uplink(ctx, toConfirm)
	if j.at(FailpointUplinked) {
		return false
	}
	if err := j.confirm(ctx, toConfirm); err != nil {
		j.log.Warn("cluster: janitor: confirm", zap.Error(err))
	}
	for _, v := range toConfirm {
		delete(j.pendingSince, v.id)
	}
	return true
}

// reap writes a reap for each session, reads them back and returns the
// ones that were valid (now unconfirmed, ours to uplink and confirm).
func (j *Janitor) reap(ctx context.Context, views []sessionView) ([]sessionView, error) {
	if len(views) == 0 {
		return nil, nil
	}
	c := j.claims
	at := time.Now()
	msgs := make([]*sarama.ProducerMessage, len(views))
	for i, v := range views {
		rec := reapRecord{Epoch: v.owner.Epoch, Janitor: j.id, Incarnation: j.inc, At: at}
		msgs[i] = c.message(v.id, c.Partition(v.id), rec.encode())
	}
	if err := c.produce(func(p sarama.SyncProducer) error { return p.SendMessages(msgs) }); err != nil {
		return nil, err
	}
	var out []sessionView
	for i, m := range msgs {
		if err := c.table.WaitApplied(ctx, m.Partition, m.Offset); err != nil {
			return out, err
		}
		v, ok := c.view(views[i].id)
		if !ok || v.owner.Epoch != m.Offset {
			continue // a claim or another janitor's reap came first
		}
		j.reaped.Add(1)
		if v.state.Will != nil {
			j.fired.Add(1)
		}
		out = append(out, v)
	}
	return out, nil
}

// uplink retains and hands to the Sink the will of each reap and returns
// the reaps to confirm: those without a will, and those whose uplink the
// Sink confirmed (the others are retried by a later sweep).
func (j *Janitor) uplink(ctx context.Context, views []sessionView) []sessionView {
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(views))
	var out []sessionView
	n := 0
	for i, v := range views {
		if v.state.Will == nil {
			out = append(out, v)
			continue
		}
		n++
		w := *v.state.Will
		j.wills.UplinkWill(&w, func(err error) { results <- result{i, err} })
	}
	for ; n > 0; n-- {
		select {
		case <-ctx.Done():
			return out
		case r := <-results:
			if r.err != nil {
				j.log.Warn("cluster: janitor: will uplink failed; retried", zap.String("client", views[r.i].id), zap.Error(r.err))
				continue
			}
			out = append(out, views[r.i])
		}
	}
	return out
}

// confirm writes, for each reap still current and unconfirmed, the
// session's offline state without the will under the reap's epoch (or,
// with session expiry 0, its end and a tombstone): the last record of the
// key then carries the full state again, and the will is done.
func (j *Janitor) confirm(ctx context.Context, views []sessionView) error {
	c := j.claims
	var msgs []*sarama.ProducerMessage
	for _, v := range views {
		cur, ok := c.view(v.id)
		if !ok || !cur.unconfirmed || cur.owner.Epoch != v.owner.Epoch {
			continue
		}
		p := c.Partition(v.id)
		if cur.state.Expiry == 0 {
			msgs = append(msgs, c.message(v.id, p, endedRecord{Epoch: cur.owner.Epoch}.encode()), c.message(v.id, p, nil))
			continue
		}
		st := cur.state
		st.Will, st.WillDelay, st.WillAt = nil, 0, time.Time{}
		msgs = append(msgs, c.message(v.id, p, stateRecord{Owner: cur.owner.Replica, State: st}.encode()))
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := c.produce(func(p sarama.SyncProducer) error { return p.SendMessages(msgs) }); err != nil {
		return err
	}
	var errs []error
	for _, m := range msgs {
		if err := c.table.WaitApplied(ctx, m.Partition, m.Offset); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// brokerNow is the newest heartbeat timestamp applied: the broker's clock
// as far as this replica has read it.
func (r *Registry) brokerNow() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.newest
}

// lookup returns the registry's latest heartbeat of a replica id.
func (r *Registry) lookup(id string) (Replica, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep, ok := r.replicas[id]
	return rep, ok
}
