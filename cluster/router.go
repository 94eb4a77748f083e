package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// Front is what the router needs of the MQTT front end
// (*mqttfront.Server): delivery of the copies read from this replica's
// inbox, once it serves.
type Front interface {
	Deliver(m *mqttfront.Message, from string, clientIDs []string, mark mqttfront.InboxMark) (missing []string, err error)
	DeliverTargets(m *mqttfront.Message, from string, to mqttfront.Targets, mark mqttfront.InboxMark) (missing mqttfront.Targets, err error)
	// BeginInbox starts a batch of inbox copies written in one store
	// transaction (inbox.go, applyCopies).
	BeginInbox() (*mqttfront.InboxBatch, error)
	Ready() <-chan struct{}
	// The handover (handover.go).
	Holds(clientID string) bool
	HoldRoutes()
	ReleaseRoutes()
	RoutesBarrier()
	MoveSession(clientID string, epoch int64, switchRoutes func()) bool
	Restored() []string
	MoveRestored(clientID string, switchRoutes func()) bool
	TakeHeld(ctx context.Context, clientID string, epoch int64) (*mqttfront.Handover, error)
	HandedOver(h *mqttfront.Handover)
	Import(h *mqttfront.Handover, mark mqttfront.InboxMark) (ok, late bool, err error)
}

// ErrNoRoute completes the copies of a publish that needs them while the
// router cannot produce (before the node runs, or after it stopped):
// mqttfront.ErrUnavailable, so a v5 publisher gets 0x80 and a v3 one a
// closed connection, and resends.
var ErrNoRoute = fmt.Errorf("cluster routing not running: %w", mqttfront.ErrUnavailable)

// Router is the front end's mqttfront.RemoteRouter in cluster mode (one
// copy per other replica owning matching sessions, in that replica's
// inbox) and the reader of this replica's own inbox (README.md,
// "Routing"). NewRouter builds it; the node runs it.
type Router struct {
	node  *Node
	self  string
	front Front
	log   *zap.Logger

	matchBuf sync.Pool // *[]topics.Sub

	// mu guards producer against its close: Route sends under the read
	// lock, the node's Run closes it under the write lock.
	mu       sync.RWMutex
	producer sarama.AsyncProducer // nil until the node runs it and after
	client   sarama.Client
	parts    sync.Map // inbox topic -> int32 partition count

	stats routerStats
	hand  *handover // nil: the handover is off (cluster.handover_timeout 0)
	sync  barrier   // the downlink's read barrier (barrier.go)
}

var (
	_ mqttfront.SharedRouter = (*Router)(nil)
	_ Front                  = (*mqttfront.Server)(nil)
)

// routerStats are the router's counters (RouterStats).
type routerStats struct {
	routed, copies, copyErrors                   atomic.Uint64
	received, forwarded, dropNoSession, dropHops atomic.Uint64
	deliverErrors                                atomic.Uint64
	shareLocal, shareRemote, dropShare           atomic.Uint64
}

// RouterStats are the router's counters since start, for metrics.
type RouterStats struct {
	// RoutedPublishes: publishes that needed at least one copy.
	RoutedPublishes uint64
	// Copies produced to other replicas' inboxes (forwards included):
	// at most the replicas owning matching sessions per publish, never one
	// per replica.
	Copies uint64
	// CopyErrors: copies Kafka did not take (the publish was answered
	// with the error).
	CopyErrors uint64
	// Received: copies applied from this replica's inbox.
	Received uint64
	// Forwarded: copies this replica sent on to a session's current owner
	// (its route table was stale at the source).
	Forwarded uint64
	// DroppedNoSession: targets of a copy whose session ended (nobody owns
	// it): dropped, as a publish to an ended session on one node.
	DroppedNoSession uint64
	// DroppedHops: targets forwarded maxForwardHops times without
	// reaching an owner that holds them.
	DroppedHops uint64
	// DeliverErrors: copies whose durable queueing failed (store error).
	DeliverErrors uint64
	// Sessions: sessions in the route table per owning replica.
	Sessions map[string]int
	// ShareLocal and ShareRemote: $share group deliveries this replica
	// decided (one per matching group per publish), for a member here or
	// another replica holding members.
	ShareLocal, ShareRemote uint64
	// DroppedShare: group deliveries no replica holding members could
	// take (none of them had a member the ACL lets receive the topic,
	// or every member left): dropped, as on one node.
	DroppedShare uint64
	// ShareGroups: $share group filters with members in the route table.
	ShareGroups int

	// The handover (handover.go). HandoversOut / HandoversIn: sessions
	// this replica handed over to / received from another replica;
	// HeldOut / HeldIn: their messages. HandoversLate: handovers imported
	// after their hold ended (order with what was delivered meanwhile
	// not kept). HoldTimeouts: CONNECTs that stopped waiting for a
	// handover. FenceTimeouts: handovers sent without every live
	// replica's fence. FencesSent: fences this replica sent.
	// HeldPassedOn: handed over messages for a session that had moved on,
	// sent on to its owner as copies.
	HandoversOut, HandoversIn, HeldOut, HeldIn, HandoversLate uint64
	HoldTimeouts, FenceTimeouts, FencesSent, HeldPassedOn     uint64
}

// NewRouter builds the router of node n delivering to front (the MQTT
// server) and keeps the route table from n's sessions table. Call it
// before n.Run, then set it as the front end's router:
//
//	srv.SetRemoteRouter(cluster.NewRouter(node, srv))
func NewRouter(n *Node, front Front) *Router {
	r := &Router{node: n, self: n.id, front: front, log: n.log.Named("routing")}
	r.matchBuf.New = func() any { b := make([]topics.Sub, 0, 16); return &b }
	n.claims.routes = newRoutes()
	n.router = r
	if n.cfg.HandoverTimeout > 0 {
		r.hand = newHandover(r, n.cfg.HandoverTimeout)
		n.claims.onHandOff = r.hand.handOff
		n.claims.onOwnerMoved = r.hand.ownerMoved
		n.claims.onRestoredMoved = r.hand.restoredMoved
	}
	return r
}

// Stats returns the router's counters.
func (r *Router) Stats() RouterStats {
	s := &r.stats
	st := RouterStats{
		RoutedPublishes:  s.routed.Load(),
		Copies:           s.copies.Load(),
		CopyErrors:       s.copyErrors.Load(),
		Received:         s.received.Load(),
		Forwarded:        s.forwarded.Load(),
		DroppedNoSession: s.dropNoSession.Load(),
		DroppedHops:      s.dropHops.Load(),
		DeliverErrors:    s.deliverErrors.Load(),
		Sessions:         r.node.claims.routes.sessions(),
		ShareLocal:       s.shareLocal.Load(),
		ShareRemote:      s.shareRemote.Load(),
		DroppedShare:     s.dropShare.Load(),
		ShareGroups:      r.node.claims.routes.shares.len(),
	}
	if h := r.hand; h != nil {
		hs := &h.stats
		st.HandoversOut, st.HandoversIn, st.HeldOut, st.HeldIn = hs.out.Load(), hs.in.Load(), hs.heldOut.Load(), hs.heldIn.Load()
		st.HandoversLate, st.HoldTimeouts, st.FenceTimeouts = hs.late.Load(), hs.holdTimeouts.Load(), hs.fenceTimeouts.Load()
		st.FencesSent, st.HeldPassedOn = hs.fencesSent.Load(), hs.passedOn.Load()
	}
	return st
}

// Route sends one copy of m to each other replica owning sessions that
// match m.Topic or chosen for a $share group that matches it (share.go;
// a group this replica is chosen for is delivered here first); done (nil
// for QoS 0) once Kafka acked them all (acks=all, idempotent producer:
// per-source order in each target's inbox).
func (r *Router) Route(m *mqttfront.Message, from string, done func(error)) {
	r.route(m, from, true, done)
}

// RouteShared is Route for the $share groups only (mqttfront.SharedRouter):
// for a message every replica delivers to its own plain subscribers
// itself (a will the janitor fired, which each replica applies from the
// log), sent once in the cluster by the replica that fired it.
func (r *Router) RouteShared(m *mqttfront.Message, from string, done func(error)) {
	r.route(m, from, false, done)
}

// route is Route, with the copies for plain subscribers or not.
func (r *Router) route(m *mqttfront.Message, from string, plain bool, done func(error)) {
	bp := r.matchBuf.Get().(*[]topics.Sub)
	buf := *bp
	var targets map[string][]string
	if plain {
		targets, buf = r.node.claims.routes.remote(m.Topic, from, r.self, buf)
		clear(buf)
	}
	groups, buf := r.node.claims.routes.shares.match(m.Topic, buf)
	clear(buf)
	*bp = buf[:0]
	r.matchBuf.Put(bp)
	var shares map[string][]shareTarget
	if len(groups) > 0 {
		shares = r.routeShares(m, from, groups)
	}
	if len(targets) == 0 && len(shares) == 0 {
		if done != nil {
			done(nil)
		}
		return
	}
	r.stats.routed.Add(1)
	n := len(targets)
	for replica := range shares {
		if _, ok := targets[replica]; !ok {
			n++
		}
	}
	w := newCopyWait(n, done)
	for replica, ids := range targets {
		r.send(replica, copyRecord{Source: r.self, Targets: ids, Groups: shares[replica], Msg: m}, w)
	}
	for replica, gs := range shares {
		if _, ok := targets[replica]; !ok {
			r.send(replica, copyRecord{Source: r.self, Groups: gs, Msg: m}, w)
		}
	}
}

// send produces one copy to replica's inbox; w learns the outcome.
func (r *Router) send(replica string, rec copyRecord, w *copyWait) {
	r.stats.copies.Add(1)
	r.produce(replica, rec.encode(), w)
}

// produce sends one record to replica's inbox, keyed by this replica (one
// partition per source: per-source order); w learns the outcome.
func (r *Router) produce(replica string, value []byte, w *copyWait) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.producer == nil {
		r.stats.copyErrors.Add(1)
		w.complete(ErrNoRoute)
		return
	}
	topic := r.node.cfg.inboxTopic(replica)
	n, err := r.partitions(topic)
	if err != nil {
		r.stats.copyErrors.Add(1)
		w.complete(fmt.Errorf("copy to replica %s: %w", replica, err))
		return
	}
	// Blocks while the producer's buffer is full: the publisher waits.
	r.producer.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: kafka.Partition([]byte(r.self), n),
		Key: sarama.StringEncoder(r.self), Value: sarama.ByteEncoder(value), Metadata: w}
}

// partitions is the partition count of an inbox topic (r.mu read-held).
func (r *Router) partitions(topic string) (int32, error) {
	if v, ok := r.parts.Load(topic); ok {
		return v.(int32), nil
	}
	ps, err := r.client.Partitions(topic)
	if err != nil {
		return 0, fmt.Errorf("inbox %s: %w", topic, err)
	}
	if len(ps) == 0 {
		return 0, fmt.Errorf("inbox %s has no partitions", topic)
	}
	r.parts.Store(topic, int32(len(ps)))
	return int32(len(ps)), nil
}

// copyWait completes a publish's copies: done once all of them are acked,
// with the first error.
type copyWait struct {
	left atomic.Int32
	mu   sync.Mutex
	err  error
	done func(error) // nil: best effort
}

func newCopyWait(n int, done func(error)) *copyWait {
	w := &copyWait{done: done}
	w.left.Store(int32(n))
	return w
}

func (w *copyWait) complete(err error) {
	if err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
	if w.left.Add(-1) != 0 || w.done == nil {
		return
	}
	w.mu.Lock()
	err = w.err
	w.mu.Unlock()
	w.done(err)
}

// run produces copies and reads the inbox until ctx ends; the node runs
// it once its tables exist. Every copy in flight is completed before it
// returns.
//
// The copies and the inbox each have a Kafka client of their own: Kafka
// answers the requests of one connection in order, so on the node's
// shared client a produce (and the inbox's fetch) waited behind the
// tables' long-polling fetches (up to Consumer.MaxWaitTime each): ~200 ms
// per copy, measured.
func (r *Router) run(ctx context.Context, c *cache, inbox string, info topicInfo) {
	client, err := sarama.NewClient(r.node.brokers, r.node.sc)
	if err != nil {
		r.log.Error("cluster: routing client; publishes with remote subscribers are refused", zap.Error(err))
		return
	}
	defer client.Close()
	prod, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		r.log.Error("cluster: routing producer; publishes with remote subscribers are refused", zap.Error(err))
		return
	}
	r.mu.Lock()
	r.producer, r.client = prod, client
	r.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.completions(prod)
	}()
	defer func() {
		r.mu.Lock()
		r.producer = nil
		r.mu.Unlock()
		prod.AsyncClose()
		wg.Wait()
	}()
	if r.hand != nil {
		// Handovers and fences; they produce, so they end (deferred
		// after this) before the producer closes.
		hctx, hcancel := context.WithCancel(ctx)
		var hwg sync.WaitGroup
		hwg.Add(1)
		go func() {
			defer hwg.Done()
			r.hand.run(hctx)
		}()
		defer func() {
			hcancel()
			hwg.Wait()
		}()
	}
	select {
	case <-r.node.ready:
		select {
		case <-r.front.Ready():
			if r.hand != nil {
				// Before the inbox: copies routed here before the move
				// join what is handed over.
				r.hand.handOffRestored()
			}
			r.readInbox(ctx, c, inbox, info)
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
}

// completions gives every produced copy its outcome until the producer is
// closed.
func (r *Router) completions(prod sarama.AsyncProducer) {
	succ, errs := prod.Successes(), prod.Errors()
	for succ != nil || errs != nil {
		select {
		case m, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			m.Metadata.(*copyWait).complete(nil)
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			r.stats.copyErrors.Add(1)
			r.log.Warn("cluster: copy not taken by Kafka", zap.String("inbox", e.Msg.Topic), zap.Error(e.Err))
			e.Msg.Metadata.(*copyWait).complete(fmt.Errorf("copy to %s: %w (%v)", e.Msg.Topic, mqttfront.ErrUnavailable, e.Err))
		}
	}
}
