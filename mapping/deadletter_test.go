package mapping

import (
	"testing"
)

// TestDeadLetterTooLarge: a publish Kafka refused for its size is
// dead-lettered without its payload (it would be refused again), with the
// payload's size in mqtt.payload_size after the dead-letter headers.
func TestDeadLetterTooLarge(t *testing.T) {
	c := validConfig()
	r := mustCompile(t, c)
	p := &Publish{Topic: "devices/d1/telemetry", ClientID: "c1", Payload: make([]byte, 1500), ReceivedAt: receivedAt}
	rec, ok := r.DeadLetter(p, "telemetry", ReasonTooLarge, "kafka: message too large")
	if !ok || rec.Value != nil || rec.Topic != "iot.dlq" {
		t.Fatalf("DeadLetter(too_large) = %d-byte value to %q, %v; want no value to iot.dlq", len(rec.Value), rec.Topic, ok)
	}
	want := "mqtt.topic=devices/d1/telemetry\nmqtt.client_id=c1\nmqtt.qos=0\nmqtt.retain=false\nmqtt.received_at=1700000000123\n" +
		"mqtt.dlq.reason=too_large\nmqtt.dlq.rule=telemetry\nmqtt.dlq.detail=kafka: message too large\nmqtt.payload_size=1500\n"
	if got := headerString(rec.Headers); got != want {
		t.Errorf("headers:\n%s\nwant:\n%s", got, want)
	}

	// Any other reason keeps the payload and adds no size.
	rec, _ = r.DeadLetter(p, "telemetry", ReasonKafkaRejected, "refused")
	if len(rec.Value) != 1500 || rec.Headers[len(rec.Headers)-1].Key != HeaderDLQDetail {
		t.Errorf("DeadLetter(kafka_rejected) = %d-byte value, last header %q; want the payload and mqtt.dlq.detail last",
			len(rec.Value), rec.Headers[len(rec.Headers)-1].Key)
	}
}

// TestDeadLetterOf: a record already mapped (spooled, its device
// acked) that Kafka then refused goes to the dead-letter topic with its key
// and headers, plus the reason and detail; too large ones without value.
func TestDeadLetterOf(t *testing.T) {
	r := mustCompile(t, validConfig())
	orig := Record{Topic: "iot.telemetry", Key: []byte("d1"), Value: []byte("payload"),
		Headers: []Header{{HeaderTopic, []byte("devices/d1/telemetry")}, {"k", []byte("v")}}}
	for _, tc := range []struct {
		reason    Reason
		wantValue string
		want      string
	}{
		{ReasonKafkaRejected, "payload", "mqtt.topic=devices/d1/telemetry\nk=v\nmqtt.dlq.reason=kafka_rejected\nmqtt.dlq.detail=boom\n"},
		{ReasonTooLarge, "", "mqtt.topic=devices/d1/telemetry\nk=v\nmqtt.dlq.reason=too_large\nmqtt.dlq.detail=boom\nmqtt.payload_size=7\n"},
	} {
		rec, ok := r.DeadLetterOf(orig, tc.reason, "boom")
		if !ok || rec.Topic != "iot.dlq" || string(rec.Key) != "d1" || string(rec.Value) != tc.wantValue || rec.Reason != tc.reason || rec.Ack != AckKafka {
			t.Errorf("DeadLetterOf(%s) = %+v, %v; want key d1, value %q to iot.dlq, ack kafka", tc.reason, rec, ok, tc.wantValue)
		}
		if got := headerString(rec.Headers); got != tc.want {
			t.Errorf("DeadLetterOf(%s) headers:\n%s\nwant:\n%s", tc.reason, got, tc.want)
		}
	}
	if len(orig.Headers) != 2 {
		t.Errorf("DeadLetterOf changed the refused record's headers: %d; want 2", len(orig.Headers))
	}
	if _, ok := r.DeadLetterOf(Record{Topic: "iot.dlq"}, ReasonKafkaRejected, "x"); ok {
		t.Error("DeadLetterOf of a dead letter = ok; want false (no loop)")
	}
	if _, ok := mustCompile(t, DefaultConfig()).DeadLetterOf(orig, ReasonKafkaRejected, "x"); ok {
		t.Error("DeadLetterOf without a dead-letter topic = ok; want false")
	}
}
