package bridge

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// producer is what the uplink needs of the Kafka producer.
type producer interface {
	Produce(ctx context.Context, r *kafka.Record) error
}

// uplink implements mqttfront.Sink: mapping.Uplink, then the Kafka producer.
// A QoS 1/2 publish is confirmed only when Kafka acknowledged its record
// (acks=all by default), or when the publish was deliberately dropped
// (unmatched with unmatched.action=drop, or an ack=none route).
type uplink struct {
	rules    *atomic.Pointer[mapping.Rules]
	producer producer
	log      *zap.Logger
	metrics  *metrics
	// stop ends any Produce call blocked on a full window once the bridge
	// shuts down; it is the Run context, held because Submit has none.
	stop context.Context
	// bg counts the goroutines that hand dead letters to the producer; the
	// bridge waits for them before it stops the producer.
	bg *sync.WaitGroup
	// dlqCtx bounds dead letters of spooled records: the producer's context,
	// which outlives the front end's.
	dlqCtx context.Context
}

var _ mqttfront.Sink = (*uplink)(nil)

// Submit maps m and hands the record to the producer. It blocks while the
// producer's window is full: that stops the connection's reader, which is
// the backpressure devices feel.
func (u *uplink) Submit(m *mqttfront.Message, done func(error)) {
	p := toPublish(m)
	rules := u.rules.Load()
	rec, outcome := rules.Uplink(p)
	switch outcome {
	case mapping.Unmatched:
		u.metrics.unmatched.Inc()
		u.metrics.routes.unmatched.Add(1)
		u.metrics.uplinkDrops.WithLabelValues("unmatched").Inc()
		complete(done, nil)
		return
	case mapping.DeadLetter:
		u.metrics.deadLettered.WithLabelValues(string(rec.Reason)).Inc()
		u.metrics.routes.uplink(rec.Rule).DeadLettered.Add(1)
	}
	u.metrics.routes.uplink(rec.Rule).Matched.Add(1)
	u.metrics.uplinkRecords.WithLabelValues(ruleLabel(rec.Rule), rec.Topic).Inc()

	kr := &kafka.Record{Topic: rec.Topic, Key: rec.Key, Value: rec.Value, Headers: toKafkaHeaders(rec.Headers), Mode: ackMode(rec.Ack)}
	switch {
	case done == nil || rec.Ack == mapping.AckNone:
		// QoS 0, or a route that sheds: fire and forget, but counted.
		kr.Done = u.fireAndForget(rec)
		complete(done, nil)
	default:
		kr.Done = u.confirm(p, rec, done)
	}
	if err := u.producer.Produce(u.stop, kr); err != nil {
		// The producer is shutting down: never acked, so the device resends.
		u.metrics.produceErrors.WithLabelValues(kafka.KindOther).Inc()
		if kr.Done != nil {
			kr.Done(err)
		}
	}
}

// fireAndForget counts the outcome of a record nobody waits for.
func (u *uplink) fireAndForget(rec mapping.Record) func(error) {
	rc := u.metrics.routes.uplink(rec.Rule)
	return func(err error) {
		if err != nil {
			kind := kafka.ErrorKind(err)
			u.metrics.produceErrors.WithLabelValues(kind).Inc()
			u.metrics.uplinkDrops.WithLabelValues("qos0_" + kind).Inc()
			rc.Failed.Add(1)
			return
		}
		rc.Produced.Add(1)
	}
}

// confirm completes a QoS 1/2 publish from the record's fate. Records that
// Kafka refuses for good go to the dead-letter topic when one is set; the
// publish is then confirmed once the dead letter is in Kafka.
func (u *uplink) confirm(p *mapping.Publish, rec mapping.Record, done func(error)) func(error) {
	rc := u.metrics.routes.uplink(rec.Rule)
	return func(err error) {
		if err == nil {
			lat := time.Since(p.ReceivedAt)
			u.metrics.produceLatency.Observe(lat.Seconds())
			u.metrics.routes.observeLatency(lat)
			rc.Produced.Add(1)
			complete(done, nil)
			return
		}
		kind := kafka.ErrorKind(err)
		u.metrics.produceErrors.WithLabelValues(kind).Inc()
		rc.Failed.Add(1)
		refused, permanent := refusal(kind)
		if !permanent {
			u.log.Warn("kafka did not take a record; the device is not acked and will resend",
				zap.String("rule", rec.Rule), zap.String("topic", rec.Topic), zap.String("kind", kind), zap.Error(err))
			complete(done, fmt.Errorf("%w: %w", err, refused))
			return
		}
		if rec.Reason == "" { // not already a dead letter
			reason := deadLetterReason(kind)
			if dl, ok := u.rules.Load().DeadLetter(p, rec.Rule, reason, err.Error()); ok {
				u.metrics.deadLettered.WithLabelValues(string(reason)).Inc()
				rc.DeadLettered.Add(1)
				u.log.Warn("record refused by kafka, sent to the dead-letter topic",
					zap.String("rule", rec.Rule), zap.String("topic", rec.Topic), zap.String("kind", kind))
				dr := &kafka.Record{Topic: dl.Topic, Key: dl.Key, Value: dl.Value, Headers: toKafkaHeaders(dl.Headers)}
				dr.Done = func(dlErr error) {
					if dlErr != nil {
						u.metrics.produceErrors.WithLabelValues(kafka.ErrorKind(dlErr)).Inc()
						u.log.Warn("dead-letter topic refused the record too; the device gets a failure code",
							zap.String("rule", rec.Rule), zap.String("dead_letter_topic", dl.Topic), zap.Error(dlErr))
						complete(done, fmt.Errorf("dead-letter topic refused the record: %s: %w", kafka.ErrorKind(dlErr), refused))
						return
					}
					complete(done, nil)
				}
				// Done callbacks must not block: hand the dead letter over
				// from a goroutine of its own.
				u.bg.Add(1)
				go func() {
					defer u.bg.Done()
					if err := u.producer.Produce(u.stop, dr); err != nil {
						dr.Done(err)
					}
				}()
				return
			}
		}
		u.log.Warn("record refused by kafka",
			zap.String("rule", rec.Rule), zap.String("topic", rec.Topic), zap.String("kind", kind), zap.Error(err))
		complete(done, fmt.Errorf("kafka refused the record: %s: %w", kind, refused))
	}
}

// refusal maps a producer error kind to the Sink error the publisher is
// refused with (the front end picks the reason code), and whether the
// failure is permanent (retrying cannot help).
func refusal(kind string) (error, bool) {
	switch kind {
	case kafka.KindTooLarge:
		return mqttfront.ErrTooLarge, true
	case kafka.KindInvalidTopic:
		return mqttfront.ErrTopicInvalid, true
	case kafka.KindNotAuthorized:
		return mqttfront.ErrNotAuthorized, true
	default:
		return mqttfront.ErrUnavailable, false
	}
}

// deadLetterReason is the dead-letter reason for a record Kafka refused
// for good, by the producer's error kind.
func deadLetterReason(kind string) mapping.Reason {
	if kind == kafka.KindTooLarge {
		return mapping.ReasonTooLarge
	}
	return mapping.ReasonKafkaRejected
}

// ackMode maps a route's ack choice to the producer's.
func ackMode(a mapping.Ack) kafka.AckMode {
	switch a {
	case mapping.AckSpool:
		return kafka.AckSpool
	case mapping.AckNone:
		return kafka.AckNone
	default:
		return kafka.AckKafka
	}
}

// deadLetterSpooled is the producer's OnPermanentFailure hook: a record
// whose device was acked when it spilled, and that Kafka then refused for
// good. It goes to the dead-letter topic when one is set; otherwise it is
// logged at error level and counted, never dropped in silence. The hook
// must not block, so the dead letter is handed over from a goroutine.
func (u *uplink) deadLetterSpooled(r kafka.Record, err error) {
	kind := kafka.ErrorKind(err)
	u.metrics.produceErrors.WithLabelValues(kind).Inc()
	refused := mapping.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: toMappingHeaders(r.Headers)}
	dl, ok := u.rules.Load().DeadLetterOf(refused, deadLetterReason(kind), err.Error())
	if !ok {
		u.metrics.uplinkDrops.WithLabelValues("refused_after_ack_" + kind).Inc()
		u.log.Error("kafka refused a spooled record after its device was acked, and no dead-letter topic is set: record dropped",
			zap.String("topic", r.Topic), zap.String("kind", kind), zap.Error(err))
		return
	}
	u.metrics.deadLettered.WithLabelValues(string(dl.Reason)).Inc()
	dr := &kafka.Record{Topic: dl.Topic, Key: dl.Key, Value: dl.Value, Headers: toKafkaHeaders(dl.Headers), Mode: ackMode(dl.Ack)}
	dr.Done = func(dlErr error) {
		if dlErr != nil {
			u.metrics.uplinkDrops.WithLabelValues("dead_letter_failed").Inc()
			u.log.Error("dead-letter topic refused a spooled record: record dropped",
				zap.String("topic", r.Topic), zap.String("dead_letter_topic", dl.Topic), zap.Error(dlErr))
		}
	}
	u.bg.Add(1)
	go func() {
		defer u.bg.Done()
		ctx, cancel := context.WithTimeout(u.dlqCtx, 10*time.Second)
		defer cancel()
		if perr := u.producer.Produce(ctx, dr); perr != nil {
			dr.Done(perr)
		}
	}()
}

func complete(done func(error), err error) {
	if done != nil {
		done(err)
	}
}

func ruleLabel(rule string) string {
	if rule == "" {
		return "(none)"
	}
	return rule
}

func toPublish(m *mqttfront.Message) *mapping.Publish {
	p := &mapping.Publish{
		Topic:           m.Topic,
		ClientID:        m.ClientID,
		Username:        m.Username,
		QoS:             m.QoS,
		Retain:          m.Retain,
		Payload:         m.Payload,
		ReceivedAt:      m.ReceivedAt,
		ContentType:     m.Properties.ContentType,
		ResponseTopic:   m.Properties.ResponseTopic,
		CorrelationData: m.Properties.CorrelationData,
	}
	if n := len(m.Properties.User); n > 0 {
		p.UserProperties = make([]mapping.Property, n)
		for i, up := range m.Properties.User {
			p.UserProperties[i] = mapping.Property{Key: up.Key, Value: up.Value}
		}
	}
	return p
}

func toMappingHeaders(hs []kafka.Header) []mapping.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]mapping.Header, len(hs))
	for i, h := range hs {
		out[i] = mapping.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

func toKafkaHeaders(hs []mapping.Header) []kafka.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}
