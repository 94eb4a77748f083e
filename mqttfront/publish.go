package mqttfront

import (
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// handlePublish validates an inbound PUBLISH, routes it to local
// subscribers and hands it to the Sink; for QoS 1/2 the ack waits in the
// ring for the Sink's confirmation.
func (c *conn) handlePublish(p *packets.Packet) error {
	s := c.s
	s.stats.msgIn[p.QoS&3].Add(1)
	if c.limiter != nil && !c.limiter.wait(len(p.Payload), s.quit) {
		return closeErr(ReasonServerShutdown, 0, "closing while rate limited")
	}
	v5 := c.version == packets.V5
	if v5 && len(p.Properties.SubscriptionIDs) > 0 {
		// Only the server sends Subscription Identifiers. [MQTT-3.3.4-6]
		return closeErr(ReasonProtocolError, packets.ProtocolError, "subscription identifier in a PUBLISH from a client")
	}
	topic := p.Topic
	if v5 && p.Properties.TopicAlias != 0 {
		a := p.Properties.TopicAlias
		if int(a) > s.cfg.TopicAliasMaximum {
			return closeErr(ReasonTopicAliasInvalid, packets.TopicAliasInvalid, "topic alias above maximum") // [MQTT-3.3.2-9]
		}
		if topic == "" {
			t, ok := c.aliasIn[a]
			if !ok {
				return closeErr(ReasonProtocolError, packets.ProtocolError, "unknown topic alias") // MQTT 5 §3.3.2.3.4 (no normative id)
			}
			topic = t
		} else {
			if c.aliasIn == nil {
				c.aliasIn = map[uint16]string{}
			}
			// A copy: topic shares the packet's buffer, and the alias
			// outlives the packet (it must not keep the payload alive).
			c.aliasIn[a] = strings.Clone(topic)
		}
	}
	if topic == "" {
		return closeErr(ReasonProtocolError, packets.ProtocolError, "empty topic without alias")
	}
	if err := s.checkTopic(topic, false); err != nil {
		return closeErr(ReasonTopicInvalid, packets.TopicNameInvalid, err.Error())
	}
	if v5 && p.Properties.PayloadFormat == 1 && !packets.ValidUTF8(p.Payload) {
		if p.QoS == 0 {
			return closeErr(ReasonPayloadFormatInvalid, packets.PayloadFormatInvalid, "payload is not UTF-8")
		}
		return c.ackNow(p, packets.PayloadFormatInvalid, "payload is not UTF-8")
	}
	if p.QoS == 2 {
		// [MQTT-4.3.3-9] a duplicate of an id awaiting PUBREL is re-acked,
		// not delivered again; one still waiting for the Sink gets its
		// PUBREC when the Sink confirms.
		if known, recSent := c.ring.qos2State(p.PacketID); known {
			if recSent {
				c.send(&packets.Packet{Type: packets.PUBREC, PacketID: p.PacketID})
			}
			return nil
		}
	}
	if v5 && p.QoS > 0 && c.ring.awaiting() >= s.cfg.ReceiveMaximum {
		return closeErr(ReasonReceiveMaximumExceeded, packets.ReceiveMaximumExceeded, "receive maximum exceeded") // [MQTT-3.3.4-7]
	}
	if strings.HasPrefix(topic, "$SYS") {
		// $SYS belongs to the server [MQTT-4.7.2-1] (Mosquitto drops these).
		s.stats.drop(DropSysTopic)
		s.log.Debug("mqtt: publish to $ topic dropped", zap.String("client", c.clientID), zap.String("topic", topic))
		return c.ackDenied(p)
	}
	if !s.allow(auth.ActionPublish, c.username, c.clientID, topic) {
		s.stats.drop(DropNotAuthorized)
		s.logClient(zap.InfoLevel, c, "mqtt: publish not authorized", zap.String("client", c.clientID), zap.String("listener", c.listener),
			zap.String("username", c.username), zap.String("topic", topic))
		return c.ackDenied(p)
	}
	m := &Message{
		Topic:      topic,
		Payload:    p.Payload,
		QoS:        p.QoS,
		Retain:     p.Retain,
		ClientID:   c.clientID,
		Username:   c.username,
		ReceivedAt: time.Now(),
	}
	if v5 {
		m.Properties = propsFrom(&p.Properties)
	}
	var sharedRetain bool // cluster mode: the retained record is produced below
	if m.Retain {
		var err error
		if sharedRetain, err = s.retainInbound(m); err != nil && v5 && p.QoS > 0 {
			// Beyond max_retained(_bytes): a v5 QoS 1/2 publish is refused as a
			// whole (not routed, not sent to the Sink), so 0x97 tells the truth.
			// v3 and QoS 0 cannot be told: the message goes on, not retained.
			return c.ackNow(p, packets.QuotaExceeded, "retained quota exceeded")
		}
	}
	// Cluster mode: local delivery and the copies to other replicas under
	// one route view (cluster_handover.go); the ring's slot, which may
	// wait for acks, is taken after.
	held := s.holdRoutes()
	s.route(m, c.clientID)
	if p.QoS == 0 {
		if sharedRetain {
			s.produceRetained(m, nil)
		}
		s.routeRemote(m, c.clientID, nil) // best effort, as the local QoS 0 deliveries
		s.releaseRoutes(held)
		s.sink.Submit(m, nil)
		return nil
	}
	remote := s.routeRemoteLater(m, c.clientID)
	s.releaseRoutes(held)
	seq, ok := c.ring.push(p.PacketID, p.QoS, s.cfg.ReceiveMaximum)
	if !ok {
		remote.attach(nil)
		return closeErr(ReasonNetworkError, 0, "connection closed while waiting for acks")
	}
	ring := &c.ring
	done := func(err error) {
		if err == nil {
			ring.complete(seq, packets.Success, "")
			return
		}
		ring.complete(seq, ackCodeOf(err), err.Error())
	}
	if sharedRetain {
		// The ack also waits for the retained record (cluster mode).
		done = s.produceRetained(m, done)
	}
	// Cluster mode: the ack also waits for the copies to other replicas.
	done = remote.attach(done)
	s.sink.Submit(m, done)
	return nil
}

// ackNow answers a QoS 1/2 publish with code through the ring, keeping the
// order of acks.
func (c *conn) ackNow(p *packets.Packet, code packets.ReasonCode, msg string) error {
	if p.QoS == 0 {
		return nil
	}
	seq, ok := c.ring.push(p.PacketID, p.QoS, c.s.cfg.ReceiveMaximum)
	if !ok {
		return closeErr(ReasonNetworkError, 0, "connection closed while waiting for acks")
	}
	if c.version != packets.V5 {
		code = packets.Success // v3 cannot refuse: ack normally (Mosquitto behaviour)
	}
	c.ring.complete(seq, code, msg)
	return nil
}

// ackDenied answers a publish that is dropped by policy: v5 0x87, v3 a
// normal ack.
func (c *conn) ackDenied(p *packets.Packet) error {
	return c.ackNow(p, packets.NotAuthorized, "not authorized")
}

// checkTopic applies max_topic_length and max_topic_levels and the
// codec's name/filter rules.
func (s *Server) checkTopic(t string, filter bool) error {
	var err error
	if filter {
		err = packets.ValidTopicFilter(t)
	} else {
		err = packets.ValidTopicName(t)
	}
	if err != nil {
		return err
	}
	if len(t) > s.cfg.MaxTopicLength {
		return packets.Errorf(packets.TopicNameInvalid, "topic longer than max_topic_length %d", s.cfg.MaxTopicLength)
	}
	if strings.Count(t, "/")+1 > s.cfg.MaxTopicLevels {
		return packets.Errorf(packets.TopicNameInvalid, "topic has more than max_topic_levels %d levels", s.cfg.MaxTopicLevels)
	}
	return nil
}

// handlePubrel completes an inbound QoS 2 flow. [MQTT-4.3.3-11]
func (c *conn) handlePubrel(p *packets.Packet) error {
	ack := &packets.Packet{Type: packets.PUBCOMP, PacketID: p.PacketID}
	if !c.ring.release(p.PacketID) && c.version == packets.V5 {
		ack.ReasonCode = packets.PacketIdentifierNotFound
	}
	c.send(ack)
	return nil
}
