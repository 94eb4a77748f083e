package mqttfront

import (
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// target is one session a message goes to, after aggregating its
// overlapping subscriptions ([MQTT-3.3.5-1] in 3.1.1, [MQTT-3.3.4-2] in 5.0).
type target struct {
	clientID string
	qos      byte
	rap      bool
	subIDs   []uint32
	sess     *session
}

// route delivers m to every matching session. from is the publishing
// client ("" for injected messages), for No Local. It returns ErrQueueFull
// if some session could not queue it, or a store error; it returns after
// QoS 1/2 messages for persistent sessions are in the store.
func (s *Server) route(m *Message, from string) error {
	bp := s.matchBuf.Get().(*[]topics.Sub)
	subs := s.index.Match(m.Topic, (*bp)[:0])
	if len(subs) == 0 {
		*bp = subs[:0]
		s.matchBuf.Put(bp)
		return nil
	}
	targets, shared := collectTargets(subs, m.QoS, from)
	clear(subs)
	*bp = subs[:0]
	s.matchBuf.Put(bp)
	if s.sharedRouted && !isSys(m.Topic) {
		// Cluster mode: the router picks one member in the cluster per
		// group, this replica's through DeliverTargets (cluster_shared.go).
		shared = nil
	}

	s.mu.RLock()
	for i := range targets {
		targets[i].sess = s.sessions[targets[i].clientID]
	}
	for k, members := range shared {
		sub, ok := s.pickShared(k, members, m.Topic)
		if !ok {
			// No member of the group may receive this topic. The log
			// limiter keeps its key: a copy, not the SUBSCRIBE's buffer.
			s.deliveryDenied(strings.Clone(k), "", m.Topic)
			continue
		}
		targets = append(targets, sharedTarget(sub, m.QoS, s.sessions[sub.ClientID]))
	}
	s.mu.RUnlock()

	var firstErr error
	for i := range targets {
		t := &targets[i]
		if t.sess == nil {
			continue
		}
		w, err := t.sess.deliver(s, m, t.qos, m.Retain && t.rap, t.subIDs, false)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if w != nil {
			if err := s.writeStored(t.sess, w); err != nil {
				s.log.Error("mqtt: queue message in store", zap.String("client", t.clientID), zap.Error(err))
				if firstErr == nil {
					firstErr = err
				}
			}
		}
	}
	return firstErr
}

// linearTargets is how many targets collectTargets scans before it indexes
// them by client id: below it a scan is cheaper than a map.
const linearTargets = 16

// collectTargets turns the subscriptions matching a message into one
// target per session, aggregating a session's overlapping subscriptions
// [MQTT-3.3.4-2]: the highest QoS (at most the message's [MQTT-3.8.4-8]),
// Retain As Published if any asks for it, every Subscription Identifier
// [MQTT-3.3.4-3]. Shared subscriptions are grouped by their
// "$share/{group}/{filter}" (one member is picked per group and filter);
// No Local skips from's own subscriptions [MQTT-3.8.3-3].
//
// A session's place in targets is found by a scan while there are few
// targets and by a map beyond linearTargets, so a topic with n subscribers
// costs O(n), not O(n²) (BenchmarkCollectTargets).
func collectTargets(subs []topics.Sub, qos byte, from string) ([]target, map[string][]topics.Sub) {
	targets := make([]target, 0, len(subs))
	var shared map[string][]topics.Sub
	var byClient map[string]int // index in targets, once there are more than linearTargets
	for i := range subs {
		sub := &subs[i]
		if sub.Group != "" {
			if shared == nil {
				shared = map[string][]topics.Sub{}
			}
			k := sub.Filter
			shared[k] = append(shared[k], *sub)
			continue
		}
		if sub.NoLocal && sub.ClientID == from {
			continue
		}
		j := -1
		if byClient != nil {
			if k, ok := byClient[sub.ClientID]; ok {
				j = k
			}
		} else {
			for k := range targets {
				if targets[k].clientID == sub.ClientID {
					j = k
					break
				}
			}
		}
		if j < 0 {
			j = len(targets)
			targets = append(targets, target{clientID: sub.ClientID})
			switch {
			case byClient != nil:
				byClient[sub.ClientID] = j
			case len(targets) > linearTargets:
				byClient = make(map[string]int, len(subs))
				for k := range targets {
					byClient[targets[k].clientID] = k
				}
			}
		}
		t := &targets[j]
		t.qos = max(t.qos, min(qos, sub.QoS))
		t.rap = t.rap || sub.RetainAsPublished
		if sub.ID != 0 {
			t.subIDs = append(t.subIDs, sub.ID)
		}
	}
	return targets, shared
}

// pickShared chooses one member of a shared subscription group,
// round-robin, among the members the ACL lets receive topic, preferring
// members whose session is connected [MQTT-4.8.2-3]. ok is false when no
// member may receive it. Called with s.mu read-locked (it takes each
// candidate's session.mu, which follows s.mu in the lock order).
func (s *Server) pickShared(key string, members []topics.Sub, topic string) (sub topics.Sub, ok bool) {
	if len(members) > 1 {
		slices.SortFunc(members, func(a, b topics.Sub) int {
			if a.ClientID < b.ClientID {
				return -1
			}
			if a.ClientID > b.ClientID {
				return 1
			}
			return 0
		})
	}
	s.shareMu.Lock()
	n := s.shareRR[key]
	s.shareRR[key] = n + 1
	s.shareMu.Unlock()
	for i := range members {
		sub := members[(int(n)+i)%len(members)]
		if ss := s.sessions[sub.ClientID]; ss != nil && ss.online.Load() && ss.mayReceive(s, topic) {
			return sub, true
		}
	}
	gone := true // every member's session ended meanwhile: route skips it, no drop to count
	for i := range members {
		sub := members[(int(n)+i)%len(members)]
		ss := s.sessions[sub.ClientID]
		gone = gone && ss == nil
		if ss != nil && !ss.online.Load() && ss.mayReceive(s, topic) {
			return sub, true
		}
	}
	if gone {
		return members[int(n)%len(members)], true
	}
	return topics.Sub{}, false
}

// sharedTarget is the delivery to the member sub picked for a message at
// qos: the subscription's own options, not aggregated with the session's
// other subscriptions.
func sharedTarget(sub topics.Sub, qos byte, ss *session) target {
	t := target{clientID: sub.ClientID, qos: min(qos, sub.QoS), rap: sub.RetainAsPublished, sess: ss}
	if sub.ID != 0 {
		t.subIDs = []uint32{sub.ID}
	}
	return t
}

func isSys(topic string) bool { return len(topic) >= 4 && topic[:4] == "$SYS" }

// toStore converts a message for the store.
func toStore(m *Message, qos byte, retain bool) *store.Message {
	return &store.Message{
		Topic:     m.Topic,
		Payload:   m.Payload,
		QoS:       qos,
		Retain:    retain,
		Props:     m.Properties.wire(),
		ExpiresAt: m.expiresAt(),
		StoredAt:  m.ReceivedAt,
	}
}

// fromStore converts a stored message back.
func fromStore(sm *store.Message) *Message {
	m := &Message{Topic: sm.Topic, Payload: sm.Payload, QoS: sm.QoS, Retain: sm.Retain, ReceivedAt: sm.StoredAt}
	m.Properties = propsFrom(&sm.Props)
	if !sm.ExpiresAt.IsZero() && m.Properties.MessageExpirySet {
		// Keep the absolute deadline: rebase the interval on StoredAt.
		if m.ReceivedAt.IsZero() {
			m.ReceivedAt = sm.ExpiresAt.Add(-secs(m.Properties.MessageExpiry))
		}
	}
	return m
}

// Publish injects a message (downlink) as if published by no client:
// routed to subscribers and retained if m.Retain. done(nil) fires once
// every matching session has it in its inflight window, write queue, or
// durable offline queue; done(err) if some could not queue it. done is
// called before Publish returns, except in cluster mode (a RemoteRouter
// set), where it waits for the copies to other replicas to be durable
// and may run later, on another goroutine. It must not block.
func (s *Server) Publish(m *Message, done func(error)) {
	if s.closing.Load() || !s.runOnce.Load() {
		if done != nil {
			done(ErrServerClosed)
		}
		return
	}
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = timeNow()
	}
	if m.QoS > 2 {
		m.QoS = 2
	}
	err := topicInvalid(s.checkTopic(m.Topic, false))
	if err == nil {
		if m.Retain {
			// Refused as a whole, so a retry does not deliver it twice.
			err = s.retainPublish(m)
		}
		if err == nil {
			held := s.holdRoutes()
			err = s.route(m, "")
			// Cluster mode: done also waits for the copies to other
			// replicas (it may then run after Publish returned).
			done = s.routeRemote(m, "", done)
			s.releaseRoutes(held)
		}
	}
	if done != nil {
		done(err)
	}
}
