package integration

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/IBM/sarama"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// TestOpsReloadSIGHUP sends real SIGHUPs to the bridge binary: a changed
// uplink rule (new Kafka topic) applies without dropping the device's
// connection, and a broken config file is refused (logged, counted as
// result="refused") while the running rules and the connection stay.
func TestOpsReloadSIGHUP(t *testing.T) {
	bootstrap := sharedKafka(t)
	oldTopic, newTopic := uniq(t, "old"), uniq(t, "new")
	testenv.CreateTopic(t, bootstrap, oldTopic, 1)
	testenv.CreateTopic(t, bootstrap, newTopic, 1)
	s := newFaultSetup(t, bootstrap, oldTopic)
	p := startBridgeProc(t, s, nil)
	waitKafkaReady(t, s.admin)
	orig, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}

	c := dialV3(t, s.mqtt, uniq(t, "dev"), true, nil)
	publishAndFind := func(payload, topic string) {
		t.Helper()
		waitToken(t, c.Publish("load/d1", 1, false, payload), "publish "+payload)
		consumeUntil(t, bootstrap, topic, kafkaWait, func(got []*sarama.ConsumerMessage) bool {
			for _, m := range got {
				if string(m.Value) == payload {
					return true
				}
			}
			return false
		})
	}
	hup := func(result string, want float64) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("kill -HUP %d: %v", p.pid(), err)
		}
		series := `mqtt_bridge_config_reloads_total{result="` + result + `"}`
		waitFor(t, mqttWait, series, func() bool { v, _ := scrape(s.admin, series); return v == want })
	}
	publishAndFind("before", oldTopic)

	// A good reload: the rule now writes to newTopic.
	if err := os.WriteFile(s.config, []byte(strings.ReplaceAll(string(orig), oldTopic, newTopic)), 0o644); err != nil {
		t.Fatal(err)
	}
	hup("applied", 1)
	publishAndFind("after", newTopic)

	// A broken file: an uplink rule without a Kafka topic, and a bad YAML
	// line. Both are refused; the rule keeps writing to newTopic.
	broken := []string{
		strings.ReplaceAll(string(orig), "kafka_topic: \""+oldTopic+"\"", "kafka_topic: \"\""),
		string(orig) + "\n  this is: [not yaml\n",
	}
	for i, body := range broken {
		if err := os.WriteFile(s.config, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		hup("refused", float64(i+1))
	}
	if !strings.Contains(p.out.String(), "reload refused; the running configuration is kept") {
		t.Errorf("no \"reload refused\" line in the bridge's log:\n%s", tail(p.out.String(), 20))
	}
	if !c.IsConnectionOpen() {
		t.Fatal("the device's connection dropped across the reloads")
	}
	publishAndFind("after refused", newTopic)
	if v, _ := scrape(s.admin, `mqtt_bridge_config_reloads_total{result="applied"}`); v != 1 {
		t.Errorf(`config_reloads_total{result="applied"} = %v; want 1`, v)
	}
	if n, _ := scrape(s.admin, "mqtt_bridge_connections"); n != 1 {
		t.Errorf("mqtt_bridge_connections = %v; want 1 (nothing dropped)", n)
	}
	c.Disconnect(250)
	if code, d := p.term(shutdownBound); code != 0 {
		t.Errorf("exit code %d after SIGTERM (%v); want 0", code, d)
	}
}
