package mapping

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func downlinkConfig() Config {
	c := DefaultConfig()
	c.Downlink = []DownlinkRule{
		{Name: "commands", KafkaTopics: []string{"iot.commands"}, MQTTTopic: "devices/{key}/commands", QoS: 1},
		{Name: "byheader", KafkaTopics: []string{"iot.config", "iot.ota"}, MQTTTopic: "{kafka_topic}/{header.device}", QoS: 2, Retain: true},
		{Name: "override", KafkaTopics: []string{"iot.any"}, MQTTTopic: "fallback/{key}",
			AllowTopicHeader: true, AllowedTopics: []string{"devices/+/commands", "broadcast/#"}},
		{Name: "static", KafkaTopics: []string{"iot.static"}, MQTTTopic: "all/devices"},
	}
	return c
}

func TestDownlink(t *testing.T) {
	r := mustCompile(t, downlinkConfig())
	tests := []struct {
		name   string
		rec    KafkaRecord
		topic  string
		qos    byte
		retain bool
		reason Reason // "" = success
	}{
		{name: "key", rec: KafkaRecord{Topic: "iot.commands", Key: []byte("d1")}, topic: "devices/d1/commands", qos: 1},
		{name: "header and kafka topic", rec: KafkaRecord{Topic: "iot.ota", Headers: []Header{{"device", []byte("old")}, {"device", []byte("d2")}}},
			topic: "iot.ota/d2", qos: 2, retain: true},
		{name: "static", rec: KafkaRecord{Topic: "iot.static"}, topic: "all/devices"},
		{name: "topic header allowed", rec: KafkaRecord{Topic: "iot.any", Key: []byte("k"), Headers: []Header{{"mqtt.topic", []byte("devices/d9/commands")}}},
			topic: "devices/d9/commands"},
		{name: "topic header allowed by #", rec: KafkaRecord{Topic: "iot.any", Headers: []Header{{"mqtt.topic", []byte("broadcast")}}},
			topic: "broadcast"},
		{name: "no topic header falls back to template", rec: KafkaRecord{Topic: "iot.any", Key: []byte("k")}, topic: "fallback/k"},
		{name: "topic header ignored when not allowed", rec: KafkaRecord{Topic: "iot.commands", Key: []byte("d1"), Headers: []Header{{"mqtt.topic", []byte("x")}}},
			topic: "devices/d1/commands", qos: 1},
		{name: "topic header outside allow list", rec: KafkaRecord{Topic: "iot.any", Headers: []Header{{"mqtt.topic", []byte("devices/d9/config")}}},
			reason: ReasonTopicNotAllowed},
		{name: "topic header with wildcard", rec: KafkaRecord{Topic: "iot.any", Headers: []Header{{"mqtt.topic", []byte("devices/+/commands")}}},
			reason: ReasonIllegalMQTTTopic},
		{name: "topic header in $ space", rec: KafkaRecord{Topic: "iot.any", Headers: []Header{{"mqtt.topic", []byte("$SYS/x")}}},
			reason: ReasonIllegalMQTTTopic},
		{name: "no rule", rec: KafkaRecord{Topic: "iot.unknown"}, reason: ReasonNoRule},
		{name: "nil key", rec: KafkaRecord{Topic: "iot.commands"}, reason: ReasonMissingValue},
		{name: "empty key", rec: KafkaRecord{Topic: "iot.commands", Key: []byte{}}, reason: ReasonIllegalValue},
		{name: "key with slash", rec: KafkaRecord{Topic: "iot.commands", Key: []byte("d1/../x")}, reason: ReasonIllegalValue},
		{name: "key with wildcard", rec: KafkaRecord{Topic: "iot.commands", Key: []byte("#")}, reason: ReasonIllegalValue},
		{name: "key not utf8", rec: KafkaRecord{Topic: "iot.commands", Key: []byte{0xff}}, reason: ReasonIllegalValue},
		{name: "missing header", rec: KafkaRecord{Topic: "iot.config"}, reason: ReasonMissingValue},
		{name: "key renders $", rec: KafkaRecord{Topic: "iot.any", Key: []byte("$x")}, topic: "fallback/$x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := r.Downlink(&tt.rec)
			if tt.reason != "" {
				var de *DownlinkError
				if !errors.As(err, &de) || de.Reason != tt.reason {
					t.Fatalf("Downlink(%q) error = %v; want reason %s", tt.rec.Topic, err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Downlink(%q) = %v", tt.rec.Topic, err)
			}
			if m.Topic != tt.topic || m.QoS != tt.qos || m.Retain != tt.retain {
				t.Errorf("Downlink(%q) = topic %q qos %d retain %v; want %q %d %v", tt.rec.Topic, m.Topic, m.QoS, m.Retain, tt.topic, tt.qos, tt.retain)
			}
		})
	}
}

func TestDownlinkDollarTemplate(t *testing.T) {
	c := DefaultConfig()
	c.Downlink = []DownlinkRule{{Name: "d", KafkaTopics: []string{"t"}, MQTTTopic: "{key}/x"}}
	r := mustCompile(t, c)
	_, err := r.Downlink(&KafkaRecord{Topic: "t", Key: []byte("$SYS")})
	if !errors.Is(err, ErrIllegalTopic) {
		t.Fatalf("Downlink(key $SYS) = %v; want ErrIllegalTopic", err)
	}
	if want := `downlink rule "d": illegal_mqtt_topic: "$SYS/x": topics starting with '$' are reserved for the broker`; err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
}

func TestDownlinkProperties(t *testing.T) {
	r := mustCompile(t, downlinkConfig())
	rec := &KafkaRecord{Topic: "iot.commands", Key: []byte("d1"), Value: []byte{0, 1, 2}, Headers: []Header{
		{"trace", []byte("abc")},
		{"mqtt.topic", []byte("ignored")},
		{"mqtt.content_type", []byte("application/cbor")},
		{"mqtt.response_topic", []byte("devices/d1/replies")},
		{"mqtt.correlation_data", []byte{7, 7}},
		{"bad", []byte{0xff}},
		{"nul", []byte("a\x00b")},
		{"trace", []byte("def")},
	}}
	m, err := r.Downlink(rec)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rule != "commands" || string(m.Payload) != "\x00\x01\x02" {
		t.Errorf("Downlink = rule %q payload %x; want commands 000102", m.Rule, m.Payload)
	}
	if want := []Property{{"trace", "abc"}, {"trace", "def"}}; !slices.Equal(m.UserProperties, want) {
		t.Errorf("user properties = %q; want %q", m.UserProperties, want)
	}
	if m.ContentType != "application/cbor" || m.ResponseTopic != "devices/d1/replies" || string(m.CorrelationData) != "\x07\x07" {
		t.Errorf("properties = %q %q %x; want application/cbor devices/d1/replies 0707", m.ContentType, m.ResponseTopic, m.CorrelationData)
	}

	m, err = r.Downlink(&KafkaRecord{Topic: "iot.commands", Key: []byte("d1"), Headers: []Header{{"mqtt.response_topic", []byte("bad/#")}}})
	if err != nil || m.ResponseTopic != "" {
		t.Errorf("Downlink with a wildcard response topic = %q, %v; want it left out", m.ResponseTopic, err)
	}
}

func TestDownlinkErrorsIs(t *testing.T) {
	r := mustCompile(t, downlinkConfig())
	_, err := r.Downlink(&KafkaRecord{Topic: "nope"})
	if !errors.Is(err, ErrNoRule) || errors.Is(err, ErrMissingValue) {
		t.Errorf("errors.Is(%v, ErrNoRule) = false or matches ErrMissingValue", err)
	}
	if !strings.Contains(err.Error(), `no downlink rule consumes Kafka topic "nope"`) {
		t.Errorf("error = %q; want it to name the topic", err)
	}
}

func TestDownlinkDeadLetter(t *testing.T) {
	c := downlinkConfig()
	c.DeadLetterTopic = "iot.dlq"
	r := mustCompile(t, c)
	k := &KafkaRecord{Topic: "iot.commands", Partition: 3, Offset: 42, Key: []byte("a/b"), Value: []byte("v"),
		Headers: []Header{{"trace", []byte("t1")}}}
	_, err := r.Downlink(k)
	rec, ok := r.DownlinkDeadLetter(k, err)
	if !ok || rec.Topic != "iot.dlq" || rec.Rule != "commands" || rec.Reason != ReasonIllegalValue ||
		string(rec.Key) != "a/b" || string(rec.Value) != "v" {
		t.Fatalf("DownlinkDeadLetter = %+v, %v; want an illegal_value record for iot.dlq", rec, ok)
	}
	want := "trace=t1\nmqtt.dlq.reason=illegal_value\nmqtt.dlq.rule=commands\n" +
		"mqtt.dlq.detail={key} \"a/b\": contains '/', '+', '#' or U+0000\n" +
		"mqtt.dlq.source_topic=iot.commands\nmqtt.dlq.source_partition=3\nmqtt.dlq.source_offset=42\n"
	if got := headerString(rec.Headers); got != want {
		t.Errorf("headers:\n%s\nwant:\n%s", got, want)
	}
	if len(k.Headers) != 1 {
		t.Errorf("DownlinkDeadLetter changed the source record's headers: %v", k.Headers)
	}

	noDLQ := mustCompile(t, downlinkConfig())
	if _, ok := noDLQ.DownlinkDeadLetter(k, err); ok {
		t.Error("DownlinkDeadLetter without a dead-letter topic = ok; want false")
	}
}
