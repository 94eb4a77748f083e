package mqttfront

import (
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
			sw, _ := c.sess.deliver(s, m, min(m.QoS, w.qos), true, subIDs)
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
	for i, sub := range p.Subscriptions {
		if s.index.Remove(c.clientID, sub.Filter) {
			removed = append(removed, sub.Filter)
		} else if v5 {
			codes[i] = packets.NoSubscriptionExisted
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
