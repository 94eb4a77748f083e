package mqttfront

// Cluster routing: the hook through which a message published here reaches
// the sessions other replicas own (cluster/README.md, "Routing"), and the
// entry through which copies from other replicas reach the sessions owned
// here. The front end knows nothing of Kafka. With no router set (one
// replica) every call site below is one nil check and today's path.

import (
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// RemoteRouter hands a message to the sessions other replicas own.
type RemoteRouter interface {
	// Route is called after local delivery, on the publisher's goroutine
	// and in its arrival order (it may block to push back). It sends one
	// copy of m to each other replica owning a session that matches
	// m.Topic (from is the publishing client, for No Local) and never
	// one to a replica without such a session. done, when not nil, is
	// called exactly once, from any goroutine, when every copy is durable
	// where that replica reads it (nil) or one failed (err); at once when
	// there was nothing to send. done must not block. A nil done: QoS 0,
	// best effort.
	Route(m *Message, from string, done func(error))
}

// InboxMark names one copy in the log it was read from: Name is the log
// (topic and partition), Next the position after the copy. Deliver keeps
// the highest Next per Name, durably with the messages it queued.
type InboxMark struct {
	Name string
	Next uint64
}

// clusterRouting is the Server's part of cluster routing.
type clusterRouting struct {
	// router sends copies to other replicas; nil on one replica. Set
	// before Run.
	router RemoteRouter
	// sharedRouted: router is a SharedRouter that routes $share groups
	// (route leaves them to it, cluster_shared.go).
	sharedRouted bool
	// inboxMu serializes Deliver: it guards marks, held across the store
	// write of a copy's messages and its mark.
	inboxMu     sync.Mutex
	marks       map[string]uint64 // InboxMark.Name -> Next applied
	marksLoaded bool
	// viewMu is the route view (cluster_handover.go): read-held by a
	// publish from its local delivery through its Route call, and by the
	// cluster's inbox across a copy's delivery and forwards; write-held
	// while a session's owner changes here (MoveSession) and for a fence
	// (RoutesBarrier). Taken before s.mu and any session lock.
	viewMu sync.RWMutex
	// handing: sessions moved away whose held messages wait for TakeHeld
	// (cluster_handover.go). Guarded by s.mu.
	handing map[string]*session
}

// SetRemoteRouter makes publishes reach other replicas' sessions (cluster
// mode). Call it before Run; nil (the default) is one replica.
func (s *Server) SetRemoteRouter(r RemoteRouter) {
	s.router = r
	_, s.sharedRouted = r.(SharedRouter)
}

// routeRemote hands m to the router after local delivery and returns the
// completion to give the Sink (or the Publish caller) instead of done:
// it calls done once both it and every remote copy completed, with the
// first error. Without a router it returns done itself; $SYS stays local.
func (s *Server) routeRemote(m *Message, from string, done func(error)) func(error) {
	if s.router == nil || isSys(m.Topic) {
		return done
	}
	if done == nil {
		s.router.Route(m, from, nil)
		return nil
	}
	j := &remoteJoin{left: 2, done: done}
	s.router.Route(m, from, j.complete)
	return j.complete
}

// routeRemoteLater hands m to the router now and returns the join whose
// done attach gives later (nil without a router): a device's publish
// routes under the route view and takes its ack slot, which may wait,
// after releasing it.
func (s *Server) routeRemoteLater(m *Message, from string) *remoteJoin {
	if s.router == nil || isSys(m.Topic) {
		return nil
	}
	j := &remoteJoin{left: 3} // the copies, the Sink, attach
	s.router.Route(m, from, j.complete)
	return j
}

// attach gives j its done (nil: nobody waits) and returns the completion
// to give the Sink. On a nil j it returns done.
func (j *remoteJoin) attach(done func(error)) func(error) {
	if j == nil {
		return done
	}
	j.mu.Lock()
	j.done = done
	j.mu.Unlock()
	j.complete(nil)
	return j.complete
}

// remoteJoin calls done once left completions arrived, with the first
// error among them.
type remoteJoin struct {
	mu   sync.Mutex
	left int
	err  error
	done func(error)
}

func (j *remoteJoin) complete(err error) {
	j.mu.Lock()
	if err != nil && j.err == nil {
		j.err = err
	}
	j.left--
	fire, first, done := j.left == 0, j.err, j.done
	j.mu.Unlock()
	if fire && done != nil {
		done(first)
	}
}

// Deliver hands a copy routed here by another replica to the named local
// sessions: DeliverTargets with sessions only.
func (s *Server) Deliver(m *Message, from string, clientIDs []string, mark InboxMark) (missing []string, err error) {
	miss, err := s.DeliverTargets(m, from, Targets{Clients: clientIDs}, mark)
	return miss.Clients, err
}

// DeliverTargets hands a copy routed here by another replica (or a $share
// pick of this replica's router) to the named local sessions and to one
// member of each named $share group held here, through the same
// per-delivery path as a local publish (ACL, expiry, No Local for from,
// the options of the sessions' matching subscriptions here, window or
// durable queue). It returns, after the QoS 1/2 messages for persistent
// sessions are in the store, what this replica could not take, for the
// caller to forward: the client ids it holds no session for, and the
// groups with no member here the ACL lets receive m.Topic (each such
// denial is counted here, delivery_not_authorized).
//
// The caller holds the route view (HoldRoutes), so that a session's move
// here (MoveSession) falls before or after the whole copy.
//
// mark makes a copy read again (a log re-read from an older position)
// deliver nothing: a copy whose mark.Next is not above the highest seen
// for mark.Name is skipped, and the mark is written in the store
// transaction of the messages it queued. Calls with a mark are
// serialized; an empty mark (the router's own pick) is not checked. err
// is a store failure (the messages are queued in memory; the mark moved
// on, so a re-read does not queue them twice), or ErrServerClosed.
func (s *Server) DeliverTargets(m *Message, from string, to Targets, mark InboxMark) (missing Targets, err error) {
	if s.closing.Load() || !s.runOnce.Load() {
		return Targets{}, ErrServerClosed
	}
	if mark.Name != "" {
		ib, err := s.BeginInbox()
		if err != nil {
			return Targets{}, err
		}
		missing, err = ib.Deliver(m, from, to, mark)
		if cerr := ib.Commit(); err == nil {
			err = cerr
		}
		return missing, err
	}
	var w copyWrites
	missing = s.deliverCopy(m, from, to, InboxMark{}, &w)
	return missing, s.writeCopies(&w)
}

// copyWrites are the store writes of copies delivered in memory, and the
// highest inbox mark per name among them, for one store transaction.
type copyWrites struct {
	writes []*storeWrite
	owners []*session
	marks  map[string]uint64
}

// deliverCopy is DeliverTargets' delivery in memory: it adds the store
// writes of the messages queued for persistent sessions, and mark, to w.
// With a mark, s.inboxMu is held and the marks are loaded.
func (s *Server) deliverCopy(m *Message, from string, to Targets, mark InboxMark, w *copyWrites) (missing Targets) {
	here := make(map[string]*session, len(to.Clients))
	s.mu.RLock()
	for _, id := range to.Clients {
		if ss := s.sessions[id]; ss != nil && ss.takesCopies() {
			here[id] = ss
		} else {
			missing.Clients = append(missing.Clients, id)
		}
	}
	s.mu.RUnlock()
	if m.QoS > 2 {
		m.QoS = 2
	}
	var targets []target
	var picks []target
	if len(here) > 0 || len(to.Groups) > 0 {
		bp := s.matchBuf.Get().(*[]topics.Sub)
		subs := s.index.Match(m.Topic, (*bp)[:0])
		var shared map[string][]topics.Sub
		targets, shared = collectTargets(subs, m.QoS, from)
		if len(to.Groups) > 0 {
			picks, missing.Groups = s.pickGroups(m, to.Groups, shared)
		}
		clear(subs)
		*bp = subs[:0]
		s.matchBuf.Put(bp)
	}
	if mark.Name != "" {
		if mark.Next <= s.marks[mark.Name] {
			return missing // applied before: delivered or queued already
		}
		s.marks[mark.Name] = mark.Next
	}
	queued := false
	queue := func(ss *session, t *target) {
		sw, _ := ss.deliver(s, m, t.qos, m.Retain && t.rap, t.subIDs, true) // a full queue is counted (queue_full), as on one node
		if sw != nil {
			w.writes, w.owners = append(w.writes, sw), append(w.owners, ss)
			queued = true
		}
	}
	for i := range targets {
		t := &targets[i]
		if ss := here[t.clientID]; ss != nil {
			queue(ss, t)
		} // else: not named in this copy: the source sent it elsewhere, or it is local there
	}
	for i := range picks {
		queue(picks[i].sess, &picks[i])
	}
	if queued && mark.Name != "" {
		// The mark goes with the messages it covers; a copy that queued
		// nothing durable needs none (a re-read of it queues nothing).
		if w.marks == nil {
			w.marks = map[string]uint64{}
		}
		w.marks[mark.Name] = max(w.marks[mark.Name], mark.Next)
	}
	return missing
}

// writeCopies writes w's messages and marks in one store transaction,
// then deletes those acked meanwhile. An error leaves the messages queued
// in memory only.
func (s *Server) writeCopies(w *copyWrites) error {
	if len(w.writes) == 0 {
		return nil
	}
	var b store.Batch
	for i, sw := range w.writes {
		b.PutMessage(w.owners[i].id, sw.seq, sw.m)
	}
	for name, next := range w.marks {
		b.PutMark(name, next)
	}
	err := s.store.Apply(&b)
	var dels store.Batch // acked meanwhile: deleted together
	for i, sw := range w.writes {
		ss := w.owners[i]
		ss.mu.Lock()
		sw.om.putPending = false
		del := sw.om.finished
		ss.mu.Unlock()
		if del && err == nil {
			dels.DeleteMessage(ss.id, sw.seq)
		}
	}
	if dels.Len() > 0 {
		if derr := s.store.Apply(&dels); derr != nil {
			s.log.Error("mqtt: delete messages", zap.Int("messages", dels.Len()), zap.Error(derr))
		}
	}
	if errors.Is(err, store.ErrClosed) {
		// The server is stopping: the caller must not count the copy as
		// applied (its mark is not in the store), so that it is read
		// again at the restart.
		return ErrServerClosed
	}
	if err != nil {
		return fmt.Errorf("queue copy in store: %w", err)
	}
	return nil
}

// loadMarksLocked reads the marks from the store once (s.inboxMu held).
func (s *Server) loadMarksLocked() error {
	if s.marksLoaded {
		return nil
	}
	s.marks = map[string]uint64{}
	if s.store != nil {
		err := s.store.Marks(func(name string, next uint64) error {
			s.marks[name] = next
			return nil
		})
		if err != nil {
			return fmt.Errorf("read inbox marks: %w", err)
		}
	}
	s.marksLoaded = true
	return nil
}

// takesCopies reports whether copies from other replicas go to the
// session here: it did not end and, if a later claim took it elsewhere,
// it is being handed over (copies routed here on the old view join it).
func (ss *session) takesCopies() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return !ss.ended && (!ss.moved || ss.handing)
}

// movedAway reports whether a later claim took the session elsewhere (or
// it ended): a $share member here that no longer takes new picks, even
// while it is being handed over (the group's route names its new owner).
func (ss *session) movedAway() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.moved || ss.ended
}
