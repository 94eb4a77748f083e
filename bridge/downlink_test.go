package bridge

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

type fakeFront struct{ got []*mqttfront.Message }

func (f *fakeFront) Publish(m *mqttfront.Message, done func(error)) {
	f.got = append(f.got, m)
	done(nil)
}

func TestDownlink(t *testing.T) {
	mc := mapping.Config{
		Downlink: []mapping.DownlinkRule{{Name: "commands", KafkaTopics: []string{"iot.commands"}, MQTTTopic: "devices/{key}/commands", QoS: 1}},
	}
	tests := []struct {
		name       string
		dlq        string
		rec        kafka.Message
		wantTopic  string // published MQTT topic; "" = none
		wantDLQ    bool
		wantHeader string
	}{
		{"routed", "", kafka.Message{Topic: "iot.commands", Key: []byte("d1"), Value: []byte("go"),
			Headers: []kafka.Header{{Key: "trace", Value: []byte("abc")}}}, "devices/d1/commands", false, "trace"},
		{"no key, skipped", "", kafka.Message{Topic: "iot.commands", Value: []byte("go")}, "", false, ""},
		{"no key, dead-lettered", "iot.dlq", kafka.Message{Topic: "iot.commands", Value: []byte("go")}, "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mc
			cfg.DeadLetterTopic = tt.dlq
			rules, err := mapping.Compile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var ptr atomic.Pointer[mapping.Rules]
			ptr.Store(rules)
			ff, fp := &fakeFront{}, &fakeProducer{}
			d := &downlink{rules: &ptr, front: ff, producer: fp, log: zaptest.NewLogger(t), metrics: newMetrics()}
			var doneCalls int
			d.Handle(context.Background(), &tt.rec, func(err error) {
				doneCalls++
				if err != nil {
					t.Errorf("done(%v); want nil", err)
				}
			})
			if doneCalls != 1 {
				t.Fatalf("done called %d times; want 1", doneCalls)
			}
			if tt.wantTopic == "" && len(ff.got) != 0 || tt.wantTopic != "" && (len(ff.got) != 1 || ff.got[0].Topic != tt.wantTopic) {
				t.Fatalf("published %+v; want topic %q", ff.got, tt.wantTopic)
			}
			if tt.wantHeader != "" && (len(ff.got[0].Properties.User) != 1 || ff.got[0].Properties.User[0].Key != tt.wantHeader || ff.got[0].QoS != 1) {
				t.Errorf("message %+v; want QoS 1 and user property %q", ff.got[0], tt.wantHeader)
			}
			if got := len(fp.topics()) == 1 && fp.topics()[0] == "iot.dlq"; got != tt.wantDLQ {
				t.Errorf("dead-lettered = %v (records %v); want %v", got, fp.topics(), tt.wantDLQ)
			}
		})
	}
}

// TestDownlinkACL: a downlink record reaches only subscribers the MQTT ACL
// lets receive its topic; a denied subscriber is skipped (counted by the
// front end) and the record still completes, so it is not consumed again.
func TestDownlinkACL(t *testing.T) {
	b, _ := apiBridge(t, func(c *Config) {
		c.MQTT.Auth.ACL = auth.ACLConfig{NoMatch: "allow", Rules: []auth.ACLRule{
			{Permission: "deny", Action: "all", ClientID: "bob", Topics: []string{"devices/d1/#"}},
		}}
	})
	rules, err := mapping.Compile(mapping.Config{Downlink: []mapping.DownlinkRule{
		{Name: "commands", KafkaTopics: []string{"iot.commands"}, MQTTTopic: "devices/{key}/commands", QoS: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	var ptr atomic.Pointer[mapping.Rules]
	ptr.Store(rules)
	d := &downlink{rules: &ptr, front: b.Front(), producer: &fakeProducer{}, log: zaptest.NewLogger(t), metrics: newMetrics()}

	got := make(chan string, 4)
	bob := testkit.ConnectV3(t, b.Front().Addr("tcp").String(), "bob")
	if tok := bob.Subscribe("devices/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	for _, key := range []string{"d1", "d2"} {
		var doneErr error
		calls := 0
		d.Handle(context.Background(), &kafka.Message{Topic: "iot.commands", Key: []byte(key), Value: []byte("go")}, func(err error) {
			calls++
			doneErr = err
		})
		if calls != 1 || doneErr != nil {
			t.Fatalf("record %s: done called %d times with %v; want once with nil", key, calls, doneErr)
		}
	}
	select {
	case topic := <-got:
		if topic != "devices/d2/commands" {
			t.Fatalf("bob received %s; want devices/d2/commands only (devices/d1/# is denied to him)", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("bob received nothing; want devices/d2/commands")
	}
	if n := b.Front().Stats().Drops["delivery_not_authorized"]; n != 1 {
		t.Errorf("front end drops delivery_not_authorized = %d; want 1", n)
	}
}
