package integration

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// TestOpsReadyzFollowsKafka stops and restarts a private Kafka under a
// running bridge. Without the spool, /readyz turns 503 with kafka_connected
// false while Kafka is down (no records need to flow for the bridge to
// notice) and 200 again once it is back. With the spool, /readyz stays 200
// through the outage: the uplink accepts messages into the spool ("spilling")
// and reports Kafka as unreachable; it drains back to "direct" afterwards.
func TestOpsReadyzFollowsKafka(t *testing.T) {
	skipShort(t)
	bootstrap, stopKafka, startKafka := testenv.StartOwnKafka(t, freePortPair(t))

	t.Run("spool_disabled", func(t *testing.T) {
		cfg := testConfig(t, bootstrap)
		cfg.Kafka.Spool.Enabled = false
		b := startBridge(t, cfg) // waits for /readyz 200
		if r := readyz(b.admin); r.Code != http.StatusOK || !r.KafkaConnected || r.Spool != "disabled" {
			t.Fatalf("/readyz with Kafka up = %+v; want 200, kafka_connected, spool disabled", r)
		}
		stopKafka()
		waitFor(t, kafkaWait, "/readyz 503 with kafka_connected false after Kafka stopped", func() bool {
			r := readyz(b.admin)
			return r.Code == http.StatusServiceUnavailable && !r.Ready && !r.KafkaConnected
		})
		if v, _ := metric(t, b.admin, "mqtt_bridge_kafka_connected"); v != 0 {
			t.Errorf("mqtt_bridge_kafka_connected = %v while Kafka is down; want 0", v)
		}
		startKafka()
		waitFor(t, kafkaWait, "/readyz 200 after Kafka started again", func() bool {
			r := readyz(b.admin)
			return r.Code == http.StatusOK && r.Ready && r.KafkaConnected
		})
		b.stop()
	})

	t.Run("spool_enabled", func(t *testing.T) {
		topic := uniq(t, "up")
		testenv.CreateTopic(t, bootstrap, topic, 1)
		cfg := testConfig(t, bootstrap)
		cfg.Kafka.Spool.Enabled = true
		cfg.Kafka.Spool.Dir = filepath.Join(t.TempDir(), "spool")
		cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "up", MQTTTopic: "up/{device}", KafkaTopic: topic, Key: "{device}"}}
		b := startBridge(t, cfg)
		waitFor(t, kafkaWait, "/readyz spool direct", func() bool { return readyz(b.admin).Spool == "direct" })
		c := dialV3(t, b.addr, uniq(t, "dev"), true, nil)

		stopKafka()
		// Records make the producer notice: after spill_after_ms they go
		// to the spool and are acked after its fsync.
		waitToken(t, c.Publish("up/d1", 1, false, "during the outage"), "QoS 1 publish while Kafka is down")
		waitFor(t, kafkaWait, "/readyz spool spilling, kafka_connected false", func() bool {
			r := readyz(b.admin)
			if r.Code != http.StatusOK {
				t.Fatalf("/readyz = %+v while spilling; want 200 (the spool takes the messages)", r)
			}
			return r.Spool == "spilling" && !r.KafkaConnected && r.Ready
		})
		waitToken(t, c.Publish("up/d1", 1, false, "still down"), "second QoS 1 publish while Kafka is down")
		if r := readyz(b.admin); r.Code != http.StatusOK {
			t.Errorf("/readyz = %+v after a spooled publish; want 200", r)
		}

		startKafka()
		waitDrained(t, b.admin)
		waitFor(t, kafkaWait, "/readyz 200 kafka_connected after the drain", func() bool {
			r := readyz(b.admin)
			return r.Code == http.StatusOK && r.KafkaConnected && r.Spool == "direct"
		})
		testenv.Consume(t, bootstrap, topic, 2, kafkaWait)
		c.Disconnect(250)
		b.stop()
	})
}
