package integration

import (
	"bytes"
	"testing"

	"github.com/IBM/sarama"
	"github.com/eclipse/paho.golang/paho"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// dlqRecord reads the dead-letter topic until a record whose mqtt.topic
// header is mqttTopic arrives, and returns it.
func dlqRecord(t testing.TB, bootstrap, dlq, mqttTopic string) *sarama.ConsumerMessage {
	t.Helper()
	var found *sarama.ConsumerMessage
	consumeUntil(t, bootstrap, dlq, kafkaWait, func(got []*sarama.ConsumerMessage) bool {
		for _, r := range got {
			if v, _ := header(r, mapping.HeaderTopic); v == mqttTopic {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// checkDLQ checks a dead letter's reason header and raw payload.
func checkDLQ(t testing.TB, r *sarama.ConsumerMessage, reason string, payload []byte) {
	t.Helper()
	if got, ok := header(r, mapping.HeaderDLQReason); !ok || got != reason {
		t.Errorf("dead letter %s/%d@%d: %s = %q; want %q", r.Topic, r.Partition, r.Offset, mapping.HeaderDLQReason, got, reason)
	}
	if !bytes.Equal(r.Value, payload) {
		t.Errorf("dead letter value: %d bytes %q...; want the %d-byte payload", len(r.Value), truncate(r.Value, 32), len(payload))
	}
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// publishV5 publishes at QoS 1 and returns the PUBACK reason code.
func publishV5(t testing.TB, c *v5Client, topic string, payload []byte) byte {
	t.Helper()
	pr, err := c.publish(&paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	if pr == nil {
		t.Fatalf("publish %s: no PUBACK: %v", topic, err)
	}
	return pr.ReasonCode
}

// TestErrorsTooLarge proves the fate of a record larger than
// kafka.producer.max_request_size: with a dead-letter topic it is
// dead-lettered (reason too_large) and the device is acked; without one the
// MQTT 5 device gets PUBACK 0x83 (implementation specific error).
func TestErrorsTooLarge(t *testing.T) {
	bootstrap := sharedKafka(t)
	payload := bytes.Repeat([]byte{0xA5}, 5000)

	t.Run("dead_letter", func(t *testing.T) {
		topic, dlq := uniq(t, "big"), uniq(t, "dlq")
		testenv.CreateTopic(t, bootstrap, topic, 1)
		testenv.CreateTopic(t, bootstrap, dlq, 1)
		cfg := testConfig(t, bootstrap)
		cfg.Kafka.Producer.MaxRequestSize = 1000
		cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "big", MQTTTopic: "big/{device}", KafkaTopic: topic, Key: "{device}"}}
		cfg.Mapping.DeadLetterTopic = dlq
		b := startBridge(t, cfg)
		c := dialV5(t, b.addr, &paho.Connect{ClientID: uniq(t, "v5"), CleanStart: true}, nil)
		if rc := publishV5(t, c, "big/d1", payload); rc != 0 {
			t.Errorf("PUBACK reason 0x%02X; want 0x00 once the record is dead-lettered", rc)
		}
		if t.Failed() {
			t.FailNow() // nothing was dead-lettered: do not wait for it
		}
		// The dead letter cannot carry the whole payload (it is too large
		// by definition): any prefix of it, including none, will do.
		r := dlqRecord(t, bootstrap, dlq, "big/d1")
		checkDLQ(t, r, "too_large", truncate(payload, len(r.Value)))
	})
	t.Run("no_dead_letter", func(t *testing.T) {
		topic := uniq(t, "big")
		testenv.CreateTopic(t, bootstrap, topic, 1)
		cfg := testConfig(t, bootstrap)
		cfg.Kafka.Producer.MaxRequestSize = 1000
		cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "big", MQTTTopic: "big/{device}", KafkaTopic: topic, Key: "{device}"}}
		b := startBridge(t, cfg)
		c := dialV5(t, b.addr, &paho.Connect{ClientID: uniq(t, "v5"), CleanStart: true}, nil)
		if rc := publishV5(t, c, "big/d1", payload); rc != 0x83 {
			t.Errorf("PUBACK reason 0x%02X; want 0x83 (implementation specific error)", rc)
		}
		// The connection stays usable: a small publish still goes through.
		if rc := publishV5(t, c, "big/d1", []byte("small")); rc != 0 {
			t.Errorf("PUBACK after the refusal: 0x%02X; want 0x00", rc)
		}
		testenv.Consume(t, bootstrap, topic, 1, kafkaWait)

		// MQTT 3.1.1 has no failure PUBACK: the connection is closed without
		// the ack, so the device keeps the message and resends it.
		v3 := dialV3(t, b.addr, uniq(t, "v3"), true, nil)
		v3.Publish("big/d2", 1, false, payload)
		waitFor(t, mqttWait, "the v3 connection to be closed without a PUBACK", func() bool { return !v3.IsConnectionOpen() })
	})
}

// TestErrorsUnmatched proves both unmatched policies: drop acks the device
// and counts the publish in mqtt_bridge_uplink_unmatched_total; dead_letter
// sends it to the dead-letter topic with reason unmatched.
func TestErrorsUnmatched(t *testing.T) {
	bootstrap := sharedKafka(t)
	t.Run("drop", func(t *testing.T) {
		cfg := testConfig(t, bootstrap)
		cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "tele", MQTTTopic: "tele/{device}", KafkaTopic: uniq(t, "tele")}}
		cfg.Mapping.Unmatched.Action = mapping.UnmatchedDrop
		b := startBridge(t, cfg)
		c := dialV5(t, b.addr, &paho.Connect{ClientID: uniq(t, "v5"), CleanStart: true}, nil)
		for range 3 {
			if rc := publishV5(t, c, "nowhere/x", []byte("lost")); rc != 0 {
				t.Errorf("PUBACK reason 0x%02X for an unmatched publish; want 0x00 (dropped and counted)", rc)
			}
		}
		if v, ok := metric(t, b.admin, "mqtt_bridge_uplink_unmatched_total"); !ok || v != 3 {
			t.Errorf("mqtt_bridge_uplink_unmatched_total = %v (present %v); want 3", v, ok)
		}
	})
	t.Run("dead_letter", func(t *testing.T) {
		dlq := uniq(t, "dlq")
		testenv.CreateTopic(t, bootstrap, dlq, 1)
		cfg := testConfig(t, bootstrap)
		cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "tele", MQTTTopic: "tele/{device}", KafkaTopic: uniq(t, "tele")}}
		cfg.Mapping.Unmatched.Action = mapping.UnmatchedDeadLetter
		cfg.Mapping.DeadLetterTopic = dlq
		b := startBridge(t, cfg)
		c := dialV5(t, b.addr, &paho.Connect{ClientID: uniq(t, "v5"), CleanStart: true}, nil)
		payload := []byte{0, 1, 2, 0xff}
		if rc := publishV5(t, c, "nowhere/x", payload); rc != 0 {
			t.Errorf("PUBACK reason 0x%02X; want 0x00 once dead-lettered", rc)
		}
		checkDLQ(t, dlqRecord(t, bootstrap, dlq, "nowhere/x"), "unmatched", payload)
	})
}

// TestErrorsIllegalKafkaTopic proves that a kafka_topic template whose
// capture renders an illegal Kafka topic name (a space; an empty level)
// dead-letters the record with reason illegal_kafka_topic and acks the
// device, while legal renderings of the same rule reach their topic.
func TestErrorsIllegalKafkaTopic(t *testing.T) {
	bootstrap := sharedKafka(t)
	prefix, dlq := uniq(t, "kind"), uniq(t, "dlq")
	testenv.CreateTopic(t, bootstrap, dlq, 1)
	testenv.CreateTopic(t, bootstrap, prefix+".ok", 1)
	cfg := testConfig(t, bootstrap)
	cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "kinds", MQTTTopic: "kind/{kind}", KafkaTopic: prefix + ".{kind}"}}
	cfg.Mapping.DeadLetterTopic = dlq
	b := startBridge(t, cfg)
	c := dialV5(t, b.addr, &paho.Connect{ClientID: uniq(t, "v5"), CleanStart: true}, nil)
	for _, mt := range []string{"kind/a b", "kind/"} {
		if rc := publishV5(t, c, mt, []byte(mt)); rc != 0 {
			t.Errorf("publish %q: PUBACK reason 0x%02X; want 0x00 once dead-lettered", mt, rc)
		}
		checkDLQ(t, dlqRecord(t, bootstrap, dlq, mt), "illegal_kafka_topic", []byte(mt))
	}
	if rc := publishV5(t, c, "kind/ok", []byte("fine")); rc != 0 {
		t.Errorf("publish kind/ok: PUBACK 0x%02X; want 0x00", rc)
	}
	if r := testenv.Consume(t, bootstrap, prefix+".ok", 1, kafkaWait)[0]; string(r.Value) != "fine" {
		t.Errorf("%s got %q; want fine", prefix+".ok", r.Value)
	}
}
