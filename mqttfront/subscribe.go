package mqttfront

import (
	"errors"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// handleSubscribe adds subscriptions, answers SUBACK, then sends matching
// retained messages per Retain Handling [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11].
func (c *conn) handleSubscribe(p *packets.Packet) error {
	s := c.s
	v5 := c.version == packets.V5
	var subID uint32
	if v5 && len(p.Properties.SubscriptionIDs) > 0 {
		subID = p.Properties.SubscriptionIDs[0]
	}
	codes := make([]packets.ReasonCode, len(p.Subscriptions))
	type retainedReq struct {
		filter string
		qos    byte
	}
	var want []retainedReq
	var added []topics.Sub // to store
	var before []topics.Sub
	if s.claimer != nil {
		before = s.index.ClientSubs(c.clientID) // to undo a change the cluster refused
	}
	for i, sub := range p.Subscriptions {
		if err := s.checkTopic(sub.Filter, true); err != nil {
			codes[i] = pick(v5, packets.TopicFilterInvalid, packets.V3SubackFailure)
			continue
		}
		_, _, shared := packets.ParseShared(sub.Filter)
		if shared && sub.NoLocal && v5 {
			// [MQTT-3.8.3-4]
			return closeErr(ReasonProtocolError, packets.ProtocolError, "No Local on a shared subscription")
		}
		if !s.allow(auth.ActionSubscribe, c.username, c.clientID, sub.Filter) {
			s.logClient(zap.InfoLevel, c, "mqtt: subscribe not authorized", zap.String("client", c.clientID), zap.String("listener", c.listener),
				zap.String("username", c.username), zap.String("filter", sub.Filter))
			codes[i] = pick(v5, packets.NotAuthorized, packets.V3SubackFailure)
			continue
		}
		if !s.subscriptionRoom(c, sub.Filter) {
			codes[i] = pick(v5, packets.QuotaExceeded, packets.V3SubackFailure) // §3.9.3 0x97 / 0x80
			continue
		}
		qos := min(sub.QoS, 2)
		ts := topics.Sub{
			ClientID:          c.clientID,
			Filter:            sub.Filter,
			QoS:               qos,
			NoLocal:           v5 && sub.NoLocal,
			RetainAsPublished: v5 && sub.RetainAsPublished,
			RetainHandling:    sub.RetainHandling,
			ID:                subID,
		}
		replaced := s.index.Add(ts)
		added = append(added, ts)
		codes[i] = packets.ReasonCode(qos) // [MQTT-3.9.3-1] granted QoS
		// Retained messages go to a new non-shared subscription only (MQTT 5
		// §3.3.1.3, no normative id); v3 always gets them [MQTT-3.8.4-3].
		if !shared && (!v5 || sub.RetainHandling == 0 || (sub.RetainHandling == 1 && !replaced)) {
			want = append(want, retainedReq{sub.Filter, qos})
		}
	}
	if s.claimer != nil && len(added) > 0 {
		// Cluster mode: the new state is in the log and read back before
		// SUBACK; refused, the SUBSCRIBE is undone as a whole.
		if err := c.clusterSubsChanged(before); err != nil {
			code := pick(v5, packets.UnspecifiedError, packets.V3SubackFailure)
			if errors.Is(err, ErrSessionTooLarge) {
				code = pick(v5, packets.QuotaExceeded, packets.V3SubackFailure) // §3.9.3 0x97
			}
			for i := range codes {
				if codes[i] < 0x80 {
					codes[i] = code
				}
			}
			added, want = nil, nil
		}
	}
	c.send(&packets.Packet{Type: packets.SUBACK, PacketID: p.PacketID, ReasonCodes: codes})
	var subIDs []uint32
	if subID != 0 {
		subIDs = []uint32{subID}
	}
	for _, w := range want {
		s.retained.Match(w.filter, func(_ string, m *Message) bool {
			if exp := m.expiresAt(); !exp.IsZero() && !timeNow().Before(exp) {
				return true
			}
			// [MQTT-3.3.1-8] retained on subscribe: Retain flag set.
			sw, _ := c.sess.deliver(s, m, min(m.QoS, w.qos), true, subIDs, false)
			if sw != nil {
				if err := s.writeStored(c.sess, sw); err != nil {
					s.log.Error("mqtt: store message", zap.String("client", c.clientID), zap.Error(err))
				}
			}
			return true
		})
	}
	s.persistSubscribe(c.sess, added)
	return nil
}

// handleUnsubscribe removes subscriptions; v5 UNSUBACK says 0x11 for a
// filter that had none.
func (c *conn) handleUnsubscribe(p *packets.Packet) error {
	s := c.s
	v5 := c.version == packets.V5
	var codes []packets.ReasonCode
	if v5 {
		codes = make([]packets.ReasonCode, len(p.Subscriptions))
	}
	var removed []string // to delete from the store
	var before []topics.Sub
	if s.claimer != nil {
		before = s.index.ClientSubs(c.clientID)
	}
	for i, sub := range p.Subscriptions {
		if s.index.Remove(c.clientID, sub.Filter) {
			removed = append(removed, sub.Filter)
		} else if v5 {
			codes[i] = packets.NoSubscriptionExisted
		}
	}
	if s.claimer != nil && len(removed) > 0 {
		if err := c.clusterSubsChanged(before); err != nil {
			if !v5 {
				// A v3 UNSUBACK cannot say it failed: the connection is
				// closed instead, and the subscriptions stay.
				return closeErr(ReasonClaimFailed, 0, "unsubscribe not recorded in the cluster: "+err.Error())
			}
			for i := range codes {
				codes[i] = packets.UnspecifiedError // §3.11.3
			}
			removed = nil
		}
	}
	c.send(&packets.Packet{Type: packets.UNSUBACK, PacketID: p.PacketID, ReasonCodes: codes}) // [MQTT-3.10.4-4]
	s.persistUnsubscribe(c.sess, removed)
	return nil
}

// subscriptionRoom applies max_subscriptions: a new filter beyond it is
// refused; replacing one the client has is not. Only the client's own
// reader adds its subscriptions, so the check cannot race with an add.
func (s *Server) subscriptionRoom(c *conn, filter string) bool {
	if s.cfg.MaxSubscriptions <= 0 {
		return true
	}
	n, has := s.index.ClientLen(c.clientID, filter)
	if has || n < s.cfg.MaxSubscriptions {
		return true
	}
	s.limitHit(LimitSubscriptions, zap.String("client", c.clientID), zap.String("listener", c.listener),
		zap.String("filter", filter), zap.Int("subscriptions", n))
	return false
}

func pick(v5 bool, a, b packets.ReasonCode) packets.ReasonCode {
	if v5 {
		return a
	}
	return b
}

// clusterSubsChanged writes the session's state after a change of its
// subscriptions (cluster mode) and waits until it is read back. When the
// cluster refuses it, the client's subscriptions are put back as they were
// (before); a record too large is counted as the limit
// cluster.max_session_record_bytes.
func (c *conn) clusterSubsChanged(before []topics.Sub) error {
	s := c.s
	ctx, cancel := s.quitContext()
	err := s.clusterUpdate(ctx, c.sess)
	cancel()
	if err == nil {
		return nil
	}
	s.index.RemoveClient(c.clientID)
	for _, sub := range before {
		s.index.Add(sub)
	}
	if errors.Is(err, ErrSessionTooLarge) {
		s.limitHit(LimitSessionRecordBytes, zap.String("client", c.clientID), zap.String("listener", c.listener), zap.Error(err))
	} else {
		s.logClient(zap.WarnLevel, c, "mqtt: cluster: subscription change not recorded", zap.String("client", c.clientID),
			zap.String("listener", c.listener), zap.Error(err), zap.Stringer("reason", ReasonClaimFailed))
	}
	return err
}
