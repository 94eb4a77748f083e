package integration

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/eclipse/paho.golang/paho"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// TestOpsMetricsFamilies drives real traffic through a bridge on the shared
// Kafka (QoS 0 and 1 uplink, a too-large record that is dead-lettered, an
// unmatched publish, a $SYS publish, a downlink command) and checks that
// /metrics exposes every family issue 5 lists, with the type it should have.
func TestOpsMetricsFamilies(t *testing.T) {
	bootstrap := sharedKafka(t)
	upTopic, dlq, cmdTopic := uniq(t, "up"), uniq(t, "dlq"), uniq(t, "cmd")
	for _, tp := range []string{upTopic, dlq, cmdTopic} {
		testenv.CreateTopic(t, bootstrap, tp, 1)
	}
	cfg := testConfig(t, bootstrap)
	cfg.Kafka.Producer.MaxRequestSize = 1000 // a 5000-byte payload fails with too_large
	cfg.Kafka.Spool.Enabled = true
	cfg.Kafka.Spool.Dir = filepath.Join(t.TempDir(), "spool")
	cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "ops", MQTTTopic: "ops/{device}", KafkaTopic: upTopic, Key: "{device}"}}
	cfg.Mapping.DeadLetterTopic = dlq
	cfg.Mapping.Downlink = []mapping.DownlinkRule{{Name: "commands", KafkaTopics: []string{cmdTopic}, MQTTTopic: "cmd/{key}/commands", QoS: 1}}
	b := startBridge(t, cfg)
	// The producer connects after the listeners: until then records spill,
	// and a spooled record Kafka refuses is dead-lettered without a
	// produce_errors_total count. Publish on the direct path.
	waitFor(t, kafkaWait, "/readyz kafka_connected and spool direct", func() bool {
		r := readyz(b.admin)
		return r.KafkaConnected && r.Spool == "direct"
	})

	got := make(chan *paho.Publish, 1)
	devID := uniq(t, "dev")
	dev := dialV5(t, b.addr, &paho.Connect{ClientID: devID, CleanStart: true}, func(p *paho.Publish) {
		select {
		case got <- p:
		default:
		}
	})
	if _, err := dev.Subscribe(t.Context(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cmd/d1/commands", QoS: 1}}}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if _, err := dev.publish(&paho.Publish{Topic: "ops/d1", QoS: 0, Payload: []byte("q0")}); err != nil {
		t.Fatalf("QoS 0 publish: %v", err)
	}
	if rc := publishV5(t, dev, "ops/d1", []byte("q1")); rc != 0 {
		t.Errorf("QoS 1 publish: PUBACK 0x%02X; want 0x00", rc)
	}
	if rc := publishV5(t, dev, "ops/d1", bytes.Repeat([]byte{0x5A}, 5000)); rc != 0 {
		t.Errorf("too-large publish with a DLQ: PUBACK 0x%02X; want 0x00 once dead-lettered", rc)
	}
	publishV5(t, dev, "nowhere/d1", []byte("unmatched")) // counted, not sent
	publishV5(t, dev, "$SYS/fake", []byte("sys"))        // dropped (reason sys_topic)

	prod := syncProducer(t, bootstrap)
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: cmdTopic, Key: sarama.StringEncoder("d1"), Value: sarama.StringEncoder("reboot")}); err != nil {
		t.Fatalf("produce command: %v", err)
	}
	select {
	case p := <-got:
		if string(p.Payload) != "reboot" {
			t.Errorf("downlink payload %q; want reboot", p.Payload)
		}
	case <-t.Context().Done():
	}
	waitConsumed(t, b.admin, 1)
	waitFor(t, kafkaWait, "uplink records and a dead letter counted", func() bool {
		n, _ := metric(t, b.admin, `mqtt_bridge_uplink_records_total{kafka_topic="`+upTopic+`",rule="ops"}`)
		d, _ := metric(t, b.admin, `mqtt_bridge_dead_lettered_total{reason="too_large"}`)
		return n >= 2 && d >= 1
	})

	code, body := httpGet(b.admin, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	types := metricTypes(body)
	tests := []struct {
		family, typ string
		series      string // a series that must be present (and > 0 unless zeroOK)
		zeroOK      bool
	}{
		{"mqtt_bridge_connections", "gauge", "mqtt_bridge_connections", false},
		{"mqtt_bridge_connects_total", "counter", `mqtt_bridge_connects_total{result="success"}`, false},
		{"mqtt_bridge_packets_total", "counter", `mqtt_bridge_packets_total{direction="in",type="PUBLISH"}`, false},
		{"mqtt_bridge_bytes_total", "counter", `mqtt_bridge_bytes_total{direction="in"}`, false},
		{"mqtt_bridge_messages_total", "counter", `mqtt_bridge_messages_total{direction="in",qos="1"}`, false},
		{"mqtt_bridge_mqtt_drops_total", "counter", `mqtt_bridge_mqtt_drops_total{reason="sys_topic"}`, false},
		{"mqtt_bridge_uplink_records_total", "counter", `mqtt_bridge_uplink_records_total{kafka_topic="` + upTopic + `",rule="ops"}`, false},
		{"mqtt_bridge_uplink_unmatched_total", "counter", "mqtt_bridge_uplink_unmatched_total", false},
		{"mqtt_bridge_produce_latency_seconds", "histogram", "mqtt_bridge_produce_latency_seconds_count", false},
		{"mqtt_bridge_produce_errors_total", "counter", `mqtt_bridge_produce_errors_total{kind="too_large"}`, false},
		{"mqtt_bridge_dead_lettered_total", "counter", `mqtt_bridge_dead_lettered_total{reason="too_large"}`, false},
		{"mqtt_bridge_spool_state", "gauge", `mqtt_bridge_spool_state{state="direct"}`, false},
		{"mqtt_bridge_spool_records", "gauge", "mqtt_bridge_spool_records", true},
		{"mqtt_bridge_spool_bytes", "gauge", "mqtt_bridge_spool_bytes", true},
		{"mqtt_bridge_spool_oldest_age_seconds", "gauge", "mqtt_bridge_spool_oldest_age_seconds", true},
		{"mqtt_bridge_kafka_connected", "gauge", "mqtt_bridge_kafka_connected", false},
		{"mqtt_bridge_downlink_records_total", "counter", `mqtt_bridge_downlink_records_total{rule="commands"}`, false},
		{"mqtt_bridge_downlink_consumer_lag", "gauge", "mqtt_bridge_downlink_consumer_lag", true},
		{"mqtt_bridge_sessions", "gauge", "mqtt_bridge_sessions", false},
		{"mqtt_bridge_subscriptions", "gauge", "mqtt_bridge_subscriptions", false},
		{"mqtt_bridge_retained_messages", "gauge", "mqtt_bridge_retained_messages", true},
		{"go_goroutines", "gauge", "go_goroutines", false},
		{"process_resident_memory_bytes", "gauge", "process_resident_memory_bytes", false},
	}
	for _, tt := range tests {
		if got := types[tt.family]; got != tt.typ {
			t.Errorf("family %s: TYPE %q; want %q", tt.family, got, tt.typ)
			continue
		}
		v, ok := findSeries(body, tt.series)
		if !ok || (!tt.zeroOK && v <= 0) {
			t.Errorf("series %s = %v (present %v); want present%s", tt.series, v, ok, map[bool]string{false: " and > 0"}[tt.zeroOK])
		}
	}

	// A disconnect is counted by reason once it happens.
	dev.close()
	waitFor(t, mqttWait, "a disconnect counted", func() bool {
		_, body = httpGet(b.admin, "/metrics")
		return metricTypes(body)["mqtt_bridge_disconnects_total"] == "counter" &&
			strings.Contains(body, "mqtt_bridge_disconnects_total{")
	})
	// Never a client id as a label value.
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, "mqtt_bridge_") && strings.Contains(line, devID) {
			t.Errorf("a series carries the client id: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// metricTypes maps each family of a Prometheus text exposition to its
// "# TYPE" (counter, gauge, histogram, ...).
func metricTypes(body string) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(body, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}
