package bridge

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// publisher is what the downlink needs of the MQTT front end.
type publisher interface {
	Publish(m *mqttfront.Message, done func(error))
}

// downlink implements kafka.Handler: mapping.Downlink, then the front end's
// Publish. The consumer marks a record's offset only once done fires, which
// Publish does when every matching session has the message delivered or
// durably queued: at-least-once to the device.
type downlink struct {
	rules    *atomic.Pointer[mapping.Rules]
	front    publisher
	producer producer // for dead letters
	log      *zap.Logger
	metrics  *metrics
	// failpoint is asked at FailpointDownlinkBeforeDeliver (failpoint.go);
	// nil without one.
	failpoint func(point string)
	// barrier, in cluster mode, returns once this replica's route table
	// holds every subscription acknowledged before the call (cluster
	// Router.Synced): a command produced after a device's SUBACK at
	// another replica finds its route. nil on one node.
	barrier func(ctx context.Context) error
}

var _ kafka.Handler = (*downlink)(nil)

// Handle maps one record. A record that no rule can turn into an MQTT
// message goes to the dead-letter topic when one is set, or is counted,
// logged and skipped (its offset is marked): retrying cannot change the outcome.
func (d *downlink) Handle(ctx context.Context, m *kafka.Message, done func(error)) {
	kr := &mapping.KafkaRecord{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value,
		Headers: toMappingHeaders(m.Headers)}
	msg, err := d.rules.Load().Downlink(kr)
	if err != nil {
		reason, rule := "other", ""
		var de *mapping.DownlinkError
		if errors.As(err, &de) {
			reason, rule = string(de.Reason), de.Rule
		}
		rc := d.metrics.routes.downlink(rule)
		rc.Failed.Add(1)
		if dl, ok := d.rules.Load().DownlinkDeadLetter(kr, err); ok {
			d.metrics.deadLettered.WithLabelValues(reason).Inc()
			rc.DeadLettered.Add(1)
			d.log.Warn("downlink record sent to the dead-letter topic", zap.String("kafka_topic", m.Topic),
				zap.Int32("partition", m.Partition), zap.Int64("offset", m.Offset), zap.String("reason", reason), zap.Error(err))
			// The offset is marked once the dead letter is in Kafka.
			rec := &kafka.Record{Topic: dl.Topic, Key: dl.Key, Value: dl.Value, Headers: toKafkaHeaders(dl.Headers), Done: done}
			if perr := d.producer.Produce(ctx, rec); perr != nil {
				done(perr)
			}
			return
		}
		d.metrics.downlinkDrops.WithLabelValues(reason).Inc()
		d.log.Warn("downlink record skipped", zap.String("kafka_topic", m.Topic),
			zap.Int32("partition", m.Partition), zap.Int64("offset", m.Offset), zap.String("reason", reason), zap.Error(err))
		done(nil)
		return
	}
	out := &mqttfront.Message{
		Topic:   msg.Topic,
		Payload: msg.Payload,
		QoS:     msg.QoS,
		Retain:  msg.Retain,
		Properties: mqttfront.Properties{
			ContentType:     msg.ContentType,
			ResponseTopic:   msg.ResponseTopic,
			CorrelationData: msg.CorrelationData,
		},
	}
	if n := len(msg.UserProperties); n > 0 {
		out.Properties.User = make([]mqttfront.UserProperty, n)
		for i, p := range msg.UserProperties {
			out.Properties.User[i] = mqttfront.UserProperty{Key: p.Key, Value: p.Value}
		}
	}
	rule := msg.Rule
	rc := d.metrics.routes.downlink(rule)
	rc.Matched.Add(1)
	if d.failpoint != nil {
		d.failpoint(FailpointDownlinkBeforeDeliver)
	}
	start := time.Now()
	if d.barrier != nil {
		if err := d.barrier(ctx); err != nil {
			rc.Failed.Add(1)
			if ctx.Err() == nil {
				d.metrics.downlinkDrops.WithLabelValues("cluster_sync_failed").Inc()
				d.log.Warn("downlink record not delivered: the cluster's route table could not be brought up to date; the record will be consumed again",
					zap.String("rule", rule), zap.String("kafka_topic", m.Topic), zap.Int32("partition", m.Partition), zap.Int64("offset", m.Offset), zap.Error(err))
			}
			done(err)
			return
		}
	}
	d.front.Publish(out, func(err error) {
		d.metrics.downlinkLatency.Observe(time.Since(start).Seconds())
		if err != nil {
			rc.Failed.Add(1)
			d.metrics.downlinkDrops.WithLabelValues("publish_failed").Inc()
			d.log.Warn("downlink publish not queued; the record will be consumed again",
				zap.String("rule", rule), zap.String("mqtt_topic", out.Topic), zap.Error(err))
		} else {
			rc.Produced.Add(1)
			d.metrics.downlinkRecords.WithLabelValues(rule).Inc()
		}
		done(err)
	})
}
