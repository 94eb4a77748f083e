package bridge

import (
	"fmt"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

// TestDeadLetterSpooled: a spooled record Kafka refuses for good (its
// device was acked) goes to the dead-letter topic with its key and headers
// plus the reason and detail; a too-large one without its value and with
// mqtt.payload_size. A refused dead letter is not dead-lettered again.
func TestDeadLetterSpooled(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantValue string
		wantTail  string
	}{
		{"rejected", sarama.ErrTopicAuthorizationFailed, "payload",
			"mqtt.dlq.reason=kafka_rejected\nmqtt.dlq.detail=" + sarama.ErrTopicAuthorizationFailed.Error() + "\n"},
		{"too large", errTooLarge, "",
			"mqtt.dlq.reason=too_large\nmqtt.dlq.detail=" + errTooLarge.Error() + "\nmqtt.payload_size=7\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := &fakeProducer{}
			u := newTestUplink(t, testkit.TelemetryMapping("iot.dlq"), fp)
			r := kafka.Record{Topic: "iot.telemetry", Key: []byte("d1"), Value: []byte("payload"),
				Headers: []kafka.Header{{Key: "mqtt.topic", Value: []byte("devices/d1/telemetry")}}}
			u.deadLetterSpooled(r, tc.err)
			u.bg.Wait()
			if got := fp.topics(); len(got) != 1 || got[0] != "iot.dlq" {
				t.Fatalf("produced to %v; want [iot.dlq]", got)
			}
			dl := fp.recs[0]
			var hs strings.Builder
			for _, h := range dl.Headers {
				fmt.Fprintf(&hs, "%s=%s\n", h.Key, h.Value)
			}
			want := "mqtt.topic=devices/d1/telemetry\n" + tc.wantTail
			if string(dl.Key) != "d1" || string(dl.Value) != tc.wantValue || hs.String() != want || dl.Mode != kafka.AckKafka {
				t.Errorf("dead letter key %q value %q mode %v headers:\n%s\nwant key d1, value %q, ack kafka, headers:\n%s",
					dl.Key, dl.Value, dl.Mode, hs.String(), tc.wantValue, want)
			}
			if len(r.Headers) != 1 {
				t.Errorf("the refused record's headers changed: %d; want 1", len(r.Headers))
			}
		})
	}
	t.Run("dead letter refused", func(t *testing.T) {
		fp := &fakeProducer{}
		u := newTestUplink(t, testkit.TelemetryMapping("iot.dlq"), fp)
		u.deadLetterSpooled(kafka.Record{Topic: "iot.dlq", Value: []byte("x")}, errTooLarge)
		u.bg.Wait()
		if got := fp.topics(); len(got) != 0 {
			t.Errorf("produced to %v; want nothing (a dead letter is not dead-lettered again)", got)
		}
	})
}
