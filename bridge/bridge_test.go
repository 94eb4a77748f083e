package bridge

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// paho v3 keeps a package-level ticker-free logger only; nothing to ignore.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}

// TestKafkaUnreachableKeepsServingMQTT starts the bridge against a port
// where no Kafka listens: devices can still connect and subscribe, /readyz
// says not ready and why, and shutdown still ends every goroutine.
func TestKafkaUnreachableKeepsServingMQTT(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MQTT.Listeners.TCP.Address = "127.0.0.1:0"
	cfg.MQTT.Auth.AllowAnonymous = true
	cfg.MQTT.DataDir = t.TempDir()
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.Kafka.BootstrapServers = []string{"127.0.0.1:1"}
	cfg.Mapping = testkit.TelemetryMapping("")
	b, err := New(cfg, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.RunBridge(t, b)

	opts := mqtt.NewClientOptions().AddBroker("tcp://" + b.Front().Addr("tcp").String()).SetClientID("dev1")
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect while Kafka is down: %v", tok.Error())
	}
	if tok := c.Subscribe("devices/dev1/commands", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	c.Disconnect(100)

	testkit.WaitFor(t, 5*time.Second, "the admin listener", func() bool { return b.AdminAddr() != "" })
	resp, err := http.Get("http://" + b.AdminAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var r readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || r.Ready || r.KafkaConnected || !r.MQTTListening {
		t.Errorf("/readyz = %d %+v; want 503, listening, Kafka not connected", resp.StatusCode, r)
	}

	stop() // Run returns nil; goleak checks every goroutine ended
}

// TestSpoolAcksWhileKafkaIsDown: with the spool on and no Kafka, a QoS 1
// publish is acked once the spool's fsync covers it, /readyz stays ready
// and reports the spool state, and the record waits on disk.
func TestSpoolAcksWhileKafkaIsDown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MQTT.Listeners.TCP.Address = "127.0.0.1:0"
	cfg.MQTT.Auth.AllowAnonymous = true
	cfg.MQTT.DataDir = t.TempDir()
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.Kafka.BootstrapServers = []string{"127.0.0.1:1"}
	cfg.Kafka.Spool.Enabled = true
	cfg.Kafka.Spool.Dir = t.TempDir()
	cfg.Kafka.Producer.SpillAfterMs = 200
	cfg.Mapping = testkit.TelemetryMapping("")
	b, err := New(cfg, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunBridge(t, b)

	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + b.Front().Addr("tcp").String()).SetClientID("dev1"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	tok := c.Publish("devices/dev1/telemetry", 1, false, []byte("t=1"))
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("QoS 1 publish not acked while Kafka is down with the spool on: %v", tok.Error())
	}
	testkit.WaitFor(t, 5*time.Second, "the admin listener", func() bool { return b.AdminAddr() != "" })
	resp, err := http.Get("http://" + b.AdminAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var r readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !r.Ready || r.KafkaConnected || r.Spool != "spilling" || r.SpoolRecords != 1 {
		t.Errorf("/readyz = %d %+v; want 200, ready, spilling, 1 record in the spool", resp.StatusCode, r)
	}
	// The decision shows in the metrics: a spill for not_connected, no backpressure.
	resp, err = http.Get("http://" + b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`mqtt_bridge_spool_spill_reason_total{reason="not_connected"} 1`,
		`mqtt_bridge_spool_spill_reason_total{reason="kafka_slow"} 0`,
		"mqtt_bridge_produce_window_full_total 0",
		"mqtt_bridge_produce_waiting 0",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics has no line %q", want)
		}
	}
}
