package mqttfront

// Wills of sessions whose replica died (cluster mode; cluster/README.md,
// "Wills of dead replicas"). The cluster decides by log order that such a
// will fires, exactly once; then every replica delivers it to its own
// subscribers (DeliverWill), and the replica that fired it retains it and
// hands it to the Sink (UplinkWill). A replica that was only paused and
// still holds the connection learns it lost the session
// (SupersedeReaped) and does not publish the will a second time.

import (
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

// willAllowed applies the publish ACL of a will's client, as publishWill
// does. count: a refusal is counted and logged (once per replica).
func (s *Server) willAllowed(m *Message, count bool) bool {
	if s.allow(auth.ActionPublish, m.Username, m.ClientID, m.Topic) && !isSys(m.Topic) {
		return true
	}
	if count {
		s.stats.drop(DropNotAuthorized)
		s.log.Info("mqtt: will not authorized", zap.String("client", m.ClientID), zap.String("topic", m.Topic))
	}
	return false
}

// DeliverWill delivers the will of a session that the cluster found
// ownerless (its replica died) to this replica's own subscribers: the
// publish ACL of the will's client, then each subscription's options and
// delivery ACL, as for any will. It neither retains the will nor hands it
// to the Sink, nor routes it to other replicas: each replica delivers it
// from the log itself, and UplinkWill does the rest once in the cluster.
// m is not kept. It does not block (the cluster's log reader calls it).
func (s *Server) DeliverWill(m *Message) {
	if s.closing.Load() || !s.runOnce.Load() {
		return // no subscriber here yet, or any more
	}
	if !s.willAllowed(m, true) {
		return
	}
	w := *m
	w.ReceivedAt = timeNow()
	_ = s.route(&w, w.ClientID)
}

// UplinkWill retains the will (Retain set, within the limits) and hands it
// to the Sink; done runs once the Sink and, in cluster mode, the shared
// retained store confirmed, with the first error. A will the ACL refuses
// is not published anywhere: done(nil) at once. The cluster calls it once
// per fired will, at the replica that fired it. m is not kept.
func (s *Server) UplinkWill(m *Message, done func(error)) {
	if !s.willAllowed(m, false) {
		done(nil)
		return
	}
	w := *m
	w.ReceivedAt = timeNow()
	sinkDone := done
	if w.Retain {
		// Beyond the limits: published, not retained (counted, logged).
		if shared, err := s.retainInbound(&w); err == nil && shared {
			sinkDone = s.produceRetained(&w, done)
		}
	}
	// Cluster mode: each replica delivered the will to its own plain
	// subscribers (DeliverWill); its $share groups are routed once, here,
	// under the route view (a member's move falls before or after).
	held := s.holdRoutes()
	sinkDone = s.routeSharedOnly(&w, w.ClientID, sinkDone)
	s.releaseRoutes(held)
	s.sink.Submit(&w, sinkDone)
}

// SupersedeReaped is Supersede for a session whose replica the cluster
// found dead while it still held the connection here (this replica was
// paused, or cut off from Kafka, for longer than cluster.replica_timeout):
// the cluster already fired the will, so the connection under epoch is
// closed with v5 DISCONNECT 0x8E and the session dropped without
// publishing the will again. It does not block.
func (s *Server) SupersedeReaped(clientID string, epoch int64) {
	s.moveAway(clientID, epoch, func(ss *session) {
		ss.movedClean = false
		ss.will, ss.pendingWill = nil, nil // fired by the cluster
	})
}
