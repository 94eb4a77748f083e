package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// inbox records the payloads a device received, in arrival order.
type inbox struct{ r testkit.Recorder[string] }

func (b *inbox) add(payload string) { b.r.Add(payload) }
func (b *inbox) all() []string      { return b.r.All() }

func (b *inbox) has(payload string) bool {
	for _, m := range b.all() {
		if m == payload {
			return true
		}
	}
	return false
}

func (b *inbox) v3() mqtt.MessageHandler {
	return func(_ mqtt.Client, m mqtt.Message) { b.add(string(m.Payload())) }
}

// waitAll waits until every payload in want has arrived.
func (b *inbox) waitAll(t testing.TB, want []string, who string) {
	t.Helper()
	waitFor(t, kafkaWait, fmt.Sprintf("%s to receive %d commands", who, len(want)), func() bool {
		for _, w := range want {
			if !b.has(w) {
				return false
			}
		}
		return true
	})
}

// checkInOrder reports payloads with prefix that arrived out of order or
// more than once, relative to want.
func checkInOrder(t testing.TB, got []string, prefix string, want []string, who string) {
	t.Helper()
	var seen []string
	for _, g := range got {
		if strings.HasPrefix(g, prefix) {
			seen = append(seen, g)
		}
	}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("%s received %q; want exactly %q in order", who, seen, want)
	}
}

// commands returns n payloads "prefix-i" and produces them with key to topic.
func produceCommands(t testing.TB, p sarama.SyncProducer, topic, key, prefix string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		v := fmt.Sprintf("%s-%03d", prefix, i)
		out = append(out, v)
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	return out
}

func downlinkConfig(t testing.TB, bootstrap, cmdTopic string) bridge.Config {
	cfg := testConfig(t, bootstrap)
	cfg.Mapping.Downlink = []mapping.DownlinkRule{{Name: "commands", KafkaTopics: []string{cmdTopic}, MQTTTopic: "cmd/{key}/commands", QoS: 1}}
	return cfg
}

// waitConsumed waits until the bridge consumed and completed everything in
// its partitions (lag 0) and published want records.
func waitConsumed(t testing.TB, admin string, want int) {
	t.Helper()
	waitFor(t, kafkaWait, fmt.Sprintf("downlink_records_total %d and consumer lag 0", want), func() bool {
		n, _ := metric(t, admin, `mqtt_bridge_downlink_records_total{rule="commands"}`)
		lag, ok := metric(t, admin, "mqtt_bridge_downlink_consumer_lag")
		return n >= float64(want) && ok && lag == 0
	})
}

// TestDownlinkOnlineAndOffline proves the Kafka-to-MQTT path: commands
// reach an online MQTT 5 device in order, and devices with a persistent
// session that were offline (v3 clean session false; v5 clean start false
// with a session expiry) get them all, in order, when they reconnect,
// without subscribing again.
func TestDownlinkOnlineAndOffline(t *testing.T) {
	bootstrap := sharedKafka(t)
	cmdTopic := uniq(t, "cmd")
	testenv.CreateTopic(t, bootstrap, cmdTopic, 3)
	b := startBridge(t, downlinkConfig(t, bootstrap, cmdTopic))

	var online inbox
	v5 := dialV5(t, b.addr, &paho.Connect{ClientID: uniq(t, "d1"), CleanStart: true}, func(p *paho.Publish) {
		if p.QoS != 1 {
			online.add(fmt.Sprintf("wrong qos %d", p.QoS))
		}
		online.add(string(p.Payload))
	})
	ctx, cancel := contextWithWait()
	defer cancel()
	if sa, err := v5.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cmd/d1/commands", QoS: 1}}}); err != nil || sa.Reasons[0] != 1 {
		t.Fatalf("subscribe d1: %v (%+v)", err, sa)
	}

	offlineID := uniq(t, "d2")
	d2 := dialV3(t, b.addr, offlineID, false, nil)
	waitToken(t, d2.Subscribe("cmd/d2/commands", 1, nil), "subscribe d2")
	d2.Disconnect(250)

	// An MQTT 5 device keeps its session with clean start false and a
	// session expiry interval.
	v5ID := uniq(t, "d3")
	persistent := func() *paho.Connect {
		return &paho.Connect{ClientID: v5ID, CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(600)}}
	}
	d3 := dialV5(t, b.addr, persistent(), nil)
	if sa, err := d3.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cmd/d3/commands", QoS: 1}}}); err != nil || sa.Reasons[0] != 1 {
		t.Fatalf("subscribe d3: %v (%+v)", err, sa)
	}
	d3.close()

	p := syncProducer(t, bootstrap)
	want1 := produceCommands(t, p, cmdTopic, "d1", "d1", 50)
	want2 := produceCommands(t, p, cmdTopic, "d2", "d2", 50)
	want3 := produceCommands(t, p, cmdTopic, "d3", "d3", 50)
	online.waitAll(t, want1, "online d1")
	checkInOrder(t, online.all(), "", want1, "online d1")
	waitConsumed(t, b.admin, len(want1)+len(want2)+len(want3))

	var offline, offline5 inbox
	dialV3(t, b.addr, offlineID, false, offline.v3())
	offline.waitAll(t, want2, "reconnected v3 d2")
	checkInOrder(t, offline.all(), "", want2, "reconnected v3 d2")
	dialV5(t, b.addr, persistent(), func(p *paho.Publish) { offline5.add(string(p.Payload)) })
	offline5.waitAll(t, want3, "reconnected v5 d3")
	checkInOrder(t, offline5.all(), "", want3, "reconnected v5 d3")
}

func u32(v uint32) *uint32 { return &v }

// TestDownlinkRestart proves that a clean restart (same data dir, same group
// id) neither loses nor repeats commands: the consumer committed what it
// completed, and sessions, with their queued messages, survive on disk. An
// online device got its commands before the restart and gets only the new
// ones after it; an offline device's queue, filled before the restart, is
// delivered once after it.
func TestDownlinkRestart(t *testing.T) {
	bootstrap := sharedKafka(t)
	cmdTopic := uniq(t, "cmd")
	testenv.CreateTopic(t, bootstrap, cmdTopic, 3)
	cfg := downlinkConfig(t, bootstrap, cmdTopic)
	b1 := startBridge(t, cfg)

	var got1 inbox
	onlineID, offlineID := uniq(t, "d1"), uniq(t, "d2")
	d1 := dialV3(t, b1.addr, onlineID, false, got1.v3())
	waitToken(t, d1.Subscribe("cmd/d1/commands", 1, nil), "subscribe d1")
	d2 := dialV3(t, b1.addr, offlineID, false, nil)
	waitToken(t, d2.Subscribe("cmd/d2/commands", 1, nil), "subscribe d2")
	d2.Disconnect(250)

	p := syncProducer(t, bootstrap)
	before := produceCommands(t, p, cmdTopic, "d1", "before", 30)
	queued := produceCommands(t, p, cmdTopic, "d2", "queued", 20)
	got1.waitAll(t, before, "d1 before the restart")
	waitConsumed(t, b1.admin, len(before)+len(queued))
	// Every PUBACK of d1 processed: nothing of d1 stays in flight.
	waitFor(t, mqttWait, "the bridge to take d1's PUBACKs", func() bool {
		n, _ := metric(t, b1.admin, `mqtt_bridge_packets_total{direction="in",type="PUBACK"}`)
		return n >= float64(len(before))
	})
	b1.stop()
	waitFor(t, mqttWait, "d1 to see the bridge go", func() bool { return !d1.IsConnectionOpen() })

	b2 := startBridge(t, cfg)
	var got2, got3 inbox
	dialV3(t, b2.addr, onlineID, false, got2.v3())
	after := produceCommands(t, p, cmdTopic, "d1", "after", 10)
	got2.waitAll(t, after, "d1 after the restart")
	dialV3(t, b2.addr, offlineID, false, got3.v3())
	got3.waitAll(t, queued, "d2 after the restart")
	// Per partition, anything redelivered would have come before "after-*".
	checkInOrder(t, got2.all(), "", after, "d1 after the restart (duplicates of before-* are redeliveries)")
	checkInOrder(t, got3.all(), "", queued, "d2 after the restart")
	checkInOrder(t, got1.all(), "", before, "d1 before the restart")
}
