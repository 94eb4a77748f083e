package bridge

import (
	"fmt"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

// Each part of the bridge reports its own state and the reason for it, for
// /api/v1/overview (parts) and the metrics (mqtt_bridge_part_up,
// mqtt_bridge_part_state). Kafka's liveness comes from kafka.Prober, which
// asks the cluster for metadata every second, traffic or none; the
// bridge's readiness (/readyz's status) is a different question, answered
// in readiness() (health.go). The admin API reads the parts through
// adminView.Parts as admin.Part.

// Part names (the part label).
const (
	partKafka    = "kafka"
	partProducer = "producer"
	partSpool    = "spool"
	partDownlink = "downlink"
	partListener = "listener_" // + tcp, tls, ws, wss
)

// Part states and reasons besides the probe's, the spool's and the error
// kinds. Every value is a constant: the labels stay bounded.
const (
	stateConnecting = "connecting" // producer: no client yet
	stateConnected  = "connected"
	stateFailing    = "failing"     // producer: the last delivery found no broker; downlink: a recent group error
	stateFull       = "window_full" // producer: every slot of the window taken
	stateConsuming  = "consuming"
	stateUnassigned = "unassigned" // downlink: in the group, no partition (more members than partitions)
	stateStarting   = "starting"
	stateListening  = "listening"
	stateDown       = "down"

	reasonOK            = "ok"
	reasonStarting      = "starting"
	reasonDeliveryFail  = "last_delivery_unreachable"
	reasonWindowFull    = "window_full"
	reasonQuotaFull     = "quota_full"
	reasonKafkaDown     = "kafka_down"
	reasonCatchingUp    = "catching_up" // spilling with Kafka up: a burst, a slow broker, or records marked ack spool
	reasonDraining      = "draining"
	reasonNoPartitions  = "no_partitions"
	reasonNotListening  = "not_listening"
	downlinkErrorRecent = 30 * time.Second // a group error this recent, with no partition held, means failing
)

// partHealth is one part's state; admin.Part has the same fields.
type partHealth struct {
	Part   string `json:"part"`
	Up     bool   `json:"up"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// kafkaConnected is mqtt_bridge_kafka_connected and /readyz's
// kafka_connected: the probe's last round found a broker and a leader for
// every partition of the mapped topics, and the producer has built its
// client. The producer's own view is not used beyond that: it changes only
// when records fail or succeed, so it needs traffic.
func (b *Bridge) kafkaConnected() bool {
	return b.probe.Health().Up() && b.producerDialed()
}

// producerDialed latches the producer's first connection. Connected()
// turns false again when a delivery finds no broker, and only a later
// delivery turns it true: without traffic that would never happen.
func (b *Bridge) producerDialed() bool {
	if b.dialed.Load() {
		return true
	}
	if b.producer.Connected() {
		b.dialed.Store(true)
		return true
	}
	return false
}

// parts returns every part's state, in a fixed order.
func (b *Bridge) parts() []partHealth {
	kh := b.probe.Health()
	out := []partHealth{kafkaPart(kh)}
	ps := b.producer.Stats()
	out = append(out, b.producerPart(ps))
	if b.cfg.Kafka.Spool.Enabled {
		out = append(out, spoolPart(ps, kh.Up()))
	}
	if b.consumer != nil {
		out = append(out, downlinkPart(b.consumer.Health(), time.Now()))
	}
	out = append(out, b.listenerParts()...)
	return out
}

func kafkaPart(h kafka.Health) partHealth {
	p := partHealth{Part: partKafka, Up: h.Up(), State: string(h.State), Reason: h.Reason, Detail: h.Err}
	if len(h.MissingTopics) > 0 && p.Detail == "" {
		p.Detail = fmt.Sprintf("topics not in the cluster yet: %v", h.MissingTopics)
	}
	return p
}

func (b *Bridge) producerPart(ps kafka.ProducerStats) partHealth {
	p := partHealth{Part: partProducer}
	full := ps.InFlight >= b.cfg.Kafka.Producer.BufferRecords
	switch {
	case !b.producerDialed():
		p.State, p.Reason = stateConnecting, reasonStarting
	case !b.producer.Connected():
		p.State, p.Reason = stateFailing, reasonDeliveryFail
		p.Detail = "the last record found no broker; the next success clears this"
	case full:
		p.Up, p.State, p.Reason = true, stateFull, reasonWindowFull
	default:
		p.Up, p.State, p.Reason = true, stateConnected, reasonOK
	}
	if p.Detail == "" {
		p.Detail = fmt.Sprintf("%d of %d window slots in use", ps.InFlight, b.cfg.Kafka.Producer.BufferRecords)
	}
	return p
}

// spoolPart: the spool is up while it accepts records (not blocked).
func spoolPart(ps kafka.ProducerStats, kafkaUp bool) partHealth {
	p := partHealth{Part: partSpool, Up: ps.State != kafka.StateBlocked, State: ps.State,
		Detail: fmt.Sprintf("%d records, %d of %d bytes", ps.Spool.Records, ps.Spool.Bytes, ps.Spool.QuotaBytes)}
	switch ps.State {
	case kafka.StateDirect:
		p.Reason = reasonOK
	case kafka.StateBlocked:
		p.Reason = reasonQuotaFull
	case kafka.StateDraining:
		p.Reason = reasonDraining
	default:
		p.Reason = reasonCatchingUp
		if !kafkaUp {
			p.Reason = reasonKafkaDown
		}
	}
	return p
}

func downlinkPart(h kafka.ConsumerHealth, now time.Time) partHealth {
	p := partHealth{Part: partDownlink}
	recent := h.LastErrorKind != "" && now.Sub(h.LastErrorAt) < downlinkErrorRecent
	switch {
	case len(h.Partitions) > 0:
		p.Up, p.State, p.Reason = true, stateConsuming, reasonOK
		p.Detail = fmt.Sprintf("%d partitions, lag %d", len(h.Partitions), h.Lag)
	case recent:
		p.State, p.Reason, p.Detail = stateFailing, h.LastErrorKind, h.LastError
	case h.Joined:
		p.Up, p.State, p.Reason = true, stateUnassigned, reasonNoPartitions
		p.Detail = "in the consumer group without a partition (more members than partitions)"
	default:
		p.State, p.Reason = stateStarting, reasonStarting
	}
	return p
}

func (b *Bridge) listenerParts() []partHealth {
	ls := b.cfg.MQTT.Listeners
	var out []partHealth
	started := false
	select {
	case <-b.front.Ready():
		started = true
	default:
	}
	for _, l := range []struct {
		name    string
		enabled bool
	}{{"tcp", ls.TCP.Enabled}, {"tls", ls.TLS.Enabled}, {"ws", ls.WS.Enabled}, {"wss", ls.WSS.Enabled}} {
		if !l.enabled {
			continue
		}
		p := partHealth{Part: partListener + l.name}
		switch addr := b.front.Addr(l.name); {
		case addr != nil:
			p.Up, p.State, p.Reason, p.Detail = true, stateListening, reasonOK, addr.String()
		case !started:
			p.State, p.Reason = stateStarting, reasonStarting
		default:
			p.State, p.Reason = stateDown, reasonNotListening
		}
		out = append(out, p)
	}
	return out
}
