package bridge

import (
	"context"
	"sync/atomic"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
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
