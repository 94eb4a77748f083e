package mapping

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

var receivedAt = time.UnixMilli(1700000000123)

func mustCompile(t testing.TB, c Config) *Rules {
	t.Helper()
	r, err := Compile(c)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return r
}

// headerString renders headers as "k=v" lines for readable comparisons.
func headerString(hs []Header) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "%s=%s\n", h.Key, h.Value)
	}
	return b.String()
}

func TestUplink(t *testing.T) {
	c := validConfig()
	c.Uplink = append(c.Uplink,
		UplinkRule{Name: "nokey", MQTTTopic: "plain/#", KafkaTopic: "iot.plain", Ack: AckNone},
		UplinkRule{Name: "bytopic", MQTTTopic: "raw/{a}/{b}", KafkaTopic: "raw.{b}", Key: "{username}:{topic}"},
	)
	r := mustCompile(t, c)
	tests := []struct {
		name    string
		pub     Publish
		outcome Outcome
		rule    string
		topic   string
		key     []byte
		ack     Ack
		reason  Reason
	}{
		{name: "capture key", pub: Publish{Topic: "devices/d1/telemetry/temp"},
			outcome: Matched, rule: "telemetry", topic: "iot.telemetry", key: []byte("d1"), ack: AckKafka},
		{name: "templated topic", pub: Publish{Topic: "devices/d1/status", ClientID: "c1"},
			outcome: Matched, rule: "kinds", topic: "iot.status", key: []byte("c1"), ack: AckSpool},
		{name: "no key", pub: Publish{Topic: "plain/x"},
			outcome: Matched, rule: "nokey", topic: "iot.plain", key: nil, ack: AckNone},
		{name: "builtins in key", pub: Publish{Topic: "raw/x/y", Username: "u"},
			outcome: Matched, rule: "bytopic", topic: "raw.y", key: []byte("u:raw/x/y"), ack: AckKafka},
		{name: "empty capture keeps an empty key", pub: Publish{Topic: "devices//telemetry"},
			outcome: Matched, rule: "telemetry", topic: "iot.telemetry", key: []byte{}, ack: AckKafka},
		{name: "illegal rendered topic", pub: Publish{Topic: "devices/d1/st@tus", ClientID: "c1"},
			outcome: DeadLetter, rule: "kinds", topic: "iot.dlq", key: []byte("c1"), ack: AckSpool, reason: ReasonIllegalKafkaTopic},
		{name: "empty capture in topic", pub: Publish{Topic: "raw/x/"},
			outcome: DeadLetter, rule: "bytopic", topic: "iot.dlq", key: []byte(":raw/x/"), ack: AckKafka, reason: ReasonIllegalKafkaTopic},
		{name: "unmatched drop", pub: Publish{Topic: "other"}, outcome: Unmatched, reason: ReasonUnmatched},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, out := r.Uplink(&tt.pub)
			if out != tt.outcome || rec.Rule != tt.rule || rec.Topic != tt.topic || rec.Ack != tt.ack || rec.Reason != tt.reason {
				t.Fatalf("Uplink(%q) = %v rule=%q topic=%q ack=%q reason=%q; want %v rule=%q topic=%q ack=%q reason=%q",
					tt.pub.Topic, out, rec.Rule, rec.Topic, rec.Ack, rec.Reason, tt.outcome, tt.rule, tt.topic, tt.ack, tt.reason)
			}
			if !bytes.Equal(rec.Key, tt.key) || (rec.Key == nil) != (tt.key == nil) {
				t.Errorf("Uplink(%q) key = %q (nil=%v); want %q (nil=%v)", tt.pub.Topic, rec.Key, rec.Key == nil, tt.key, tt.key == nil)
			}
		})
	}
}

func TestUplinkHeaders(t *testing.T) {
	r := mustCompile(t, validConfig())
	p := &Publish{
		Topic: "devices/d1/telemetry", ClientID: "c1", Username: "alice", QoS: 1, Retain: true,
		Payload: []byte{0, 1, 2, 0xff}, ReceivedAt: receivedAt,
		UserProperties: []Property{{"unit", "C"}, {"mqtt.topic", "forged"}, {"unit", "K"}},
		ContentType:    "application/octet-stream", ResponseTopic: "devices/d1/reply", CorrelationData: []byte{9, 8},
	}
	rec, out := r.Uplink(p)
	if out != Matched {
		t.Fatalf("Uplink = %v; want matched", out)
	}
	want := "mqtt.topic=devices/d1/telemetry\nmqtt.client_id=c1\nmqtt.username=alice\nmqtt.qos=1\nmqtt.retain=true\n" +
		"mqtt.received_at=1700000000123\nmqtt.content_type=application/octet-stream\nmqtt.response_topic=devices/d1/reply\n" +
		"mqtt.correlation_data=\x09\x08\nunit=C\nunit=K\n"
	if got := headerString(rec.Headers); got != want {
		t.Errorf("headers:\n%s\nwant:\n%s", got, want)
	}
	if !bytes.Equal(rec.Value, p.Payload) {
		t.Errorf("raw value = %x; want the payload %x", rec.Value, p.Payload)
	}

	// Minimal publish: no username, no MQTT 5 properties.
	rec, _ = r.Uplink(&Publish{Topic: "devices/d1/telemetry", ClientID: "c1", ReceivedAt: receivedAt})
	want = "mqtt.topic=devices/d1/telemetry\nmqtt.client_id=c1\nmqtt.qos=0\nmqtt.retain=false\nmqtt.received_at=1700000000123\n"
	if got := headerString(rec.Headers); got != want {
		t.Errorf("minimal headers:\n%s\nwant:\n%s", got, want)
	}
}

// TestUplinkHeadersDoNotAlias checks that header values are separate slices:
// appending to one must not overwrite the next.
func TestUplinkHeadersDoNotAlias(t *testing.T) {
	r := mustCompile(t, validConfig())
	rec, _ := r.Uplink(&Publish{Topic: "devices/d1/telemetry", ClientID: "c1", ReceivedAt: receivedAt})
	before := headerString(rec.Headers)
	for i := range rec.Headers {
		_ = append(rec.Headers[i].Value, "XXXX"...)
	}
	if after := headerString(rec.Headers); after != before {
		t.Errorf("appending to a header value changed others:\n%s\nwas:\n%s", after, before)
	}
}

func TestUplinkDeadLetter(t *testing.T) {
	c := validConfig()
	c.Unmatched.Action = UnmatchedDeadLetter
	r := mustCompile(t, c)

	p := &Publish{Topic: "nowhere/x", ClientID: "c1", Payload: []byte("p"), ReceivedAt: receivedAt}
	rec, out := r.Uplink(p)
	if out != DeadLetter || rec.Topic != "iot.dlq" || rec.Reason != ReasonUnmatched || rec.Rule != "" || rec.Key != nil || rec.Ack != AckKafka {
		t.Fatalf("unmatched Uplink = %v %+v; want a keyless dead letter to iot.dlq, reason unmatched, ack kafka", out, rec)
	}
	want := "mqtt.topic=nowhere/x\nmqtt.client_id=c1\nmqtt.qos=0\nmqtt.retain=false\nmqtt.received_at=1700000000123\nmqtt.dlq.reason=unmatched\n"
	if got := headerString(rec.Headers); got != want {
		t.Errorf("headers:\n%s\nwant:\n%s", got, want)
	}

	// A json rule still dead-letters the raw payload, with rule and detail.
	p = &Publish{Topic: "devices/d1/b@d", ClientID: "c1", Payload: []byte{0xff}, ReceivedAt: receivedAt}
	rec, out = r.Uplink(p)
	if out != DeadLetter || rec.Reason != ReasonIllegalKafkaTopic || !bytes.Equal(rec.Value, []byte{0xff}) {
		t.Fatalf("Uplink = %v %+v; want a raw dead letter", out, rec)
	}
	if got := headerString(rec.Headers); !strings.HasSuffix(got, "mqtt.dlq.reason=illegal_kafka_topic\nmqtt.dlq.rule=kinds\nmqtt.dlq.detail=Kafka topic \"iot.b@d\": illegal character '@' at offset 5 (allowed: a-z A-Z 0-9 . _ -)\n") {
		t.Errorf("headers:\n%s\nwant dlq reason, rule and detail last", got)
	}

	// DeadLetter for bridge-side failures.
	rec, ok := r.DeadLetter(&Publish{Topic: "devices/d1/telemetry"}, "telemetry", ReasonTooLarge, "1048577 bytes")
	if !ok || rec.Topic != "iot.dlq" || rec.Rule != "telemetry" || rec.Reason != ReasonTooLarge {
		t.Errorf("DeadLetter = %+v, %v; want a too_large record for iot.dlq", rec, ok)
	}
	rec, ok = r.DeadLetter(&Publish{Topic: "x"}, "gone", ReasonKafkaRejected, "")
	if !ok || rec.Rule != "gone" || !strings.Contains(headerString(rec.Headers), "mqtt.dlq.rule=gone\n") {
		t.Errorf("DeadLetter(unknown rule) = %+v, %v; want the rule name carried", rec, ok)
	}
	noDLQ := mustCompile(t, DefaultConfig())
	if _, ok := noDLQ.DeadLetter(&Publish{Topic: "x"}, "", ReasonTooLarge, ""); ok {
		t.Error("DeadLetter without a dead-letter topic = ok; want false")
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Matched: "matched", Unmatched: "unmatched", DeadLetter: "dead_letter", 7: "outcome(7)"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q; want %q", o, got, want)
		}
	}
}
