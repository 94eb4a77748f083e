package bridge

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// fakeProducer records what it is given and completes records with the
// error its fail function picks.
type fakeProducer struct {
	mu   sync.Mutex
	recs []*kafka.Record
	fail func(*kafka.Record) error
}

func (f *fakeProducer) Produce(_ context.Context, r *kafka.Record) error {
	f.mu.Lock()
	f.recs = append(f.recs, r)
	f.mu.Unlock()
	var err error
	if f.fail != nil {
		err = f.fail(r)
	}
	if r.Done != nil {
		r.Done(err)
	}
	return nil
}

func (f *fakeProducer) topics() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.recs {
		out = append(out, r.Topic)
	}
	return out
}

func newTestUplink(t *testing.T, mc mapping.Config, p producer) *uplink {
	t.Helper()
	rules, err := mapping.Compile(mc)
	if err != nil {
		t.Fatal(err)
	}
	var ptr atomic.Pointer[mapping.Rules]
	ptr.Store(rules)
	return &uplink{rules: &ptr, producer: p, log: zaptest.NewLogger(t), metrics: newMetrics(), stop: context.Background(), dlqCtx: context.Background(), bg: &sync.WaitGroup{}}
}

// submit runs one publish through the sink and returns what done got.
func submit(t *testing.T, u *uplink, topic string, qos byte) (error, bool) {
	t.Helper()
	m := &mqttfront.Message{Topic: topic, Payload: []byte{0, 1, 2}, QoS: qos, ClientID: "c1", ReceivedAt: time.Now()}
	if qos == 0 {
		u.Submit(m, nil)
		return nil, true
	}
	got := make(chan error, 1)
	u.Submit(m, func(err error) { got <- err })
	select {
	case err := <-got:
		return err, true
	case <-time.After(5 * time.Second):
		return nil, false
	}
}

var errTooLarge = sarama.ErrMessageSizeTooLarge

func TestUplinkOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		dlq        string
		topic      string
		fail       func(*kafka.Record) error
		wantCode   packets.ReasonCode // Success = confirmed
		wantTopics []string
	}{
		{"kafka acks", "", "devices/d1/telemetry", nil, packets.Success, []string{"iot.telemetry"}},
		{"unmatched dropped but acked", "", "other/x", nil, packets.Success, nil},
		{"too large without dlq", "", "devices/d1/telemetry", func(*kafka.Record) error { return errTooLarge }, packets.ImplementationSpecificError, []string{"iot.telemetry"}},
		{"too large with dlq", "iot.dlq", "devices/d1/telemetry", func(r *kafka.Record) error {
			if r.Topic == "iot.telemetry" {
				return errTooLarge
			}
			return nil
		}, packets.Success, []string{"iot.telemetry", "iot.dlq"}},
		{"not authorized", "", "devices/d1/telemetry", func(*kafka.Record) error { return sarama.ErrTopicAuthorizationFailed }, packets.NotAuthorized, []string{"iot.telemetry"}},
		{"timeout is not confirmed", "", "devices/d1/telemetry", func(*kafka.Record) error { return kafka.ErrDeliveryTimeout }, packets.UnspecifiedError, []string{"iot.telemetry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := &fakeProducer{fail: tt.fail}
			u := newTestUplink(t, testkit.TelemetryMapping(tt.dlq), fp)
			err, ok := submit(t, u, tt.topic, 1)
			if !ok {
				t.Fatal("done never called")
			}
			if got := packets.Code(err); got != tt.wantCode {
				t.Errorf("done(%v): code %v; want %v", err, got, tt.wantCode)
			}
			testkit.WaitFor(t, 5*time.Second, "the records", func() bool { return len(fp.topics()) == len(tt.wantTopics) })
			for i, top := range fp.topics() {
				if top != tt.wantTopics[i] {
					t.Errorf("record %d went to %q; want %q", i, top, tt.wantTopics[i])
				}
				if top == "iot.dlq" && tt.name == "too large with dlq" && fp.recs[i].Value != nil {
					t.Errorf("too-large dead letter carries a %d-byte payload; want none (it would be refused again)", len(fp.recs[i].Value))
				}
			}
		})
	}
}

func TestUplinkQoS0IsFireAndForget(t *testing.T) {
	fp := &fakeProducer{fail: func(*kafka.Record) error { return errors.New("boom") }}
	u := newTestUplink(t, testkit.TelemetryMapping(""), fp)
	submit(t, u, "devices/d1/telemetry", 0)
	if n := len(fp.topics()); n != 1 {
		t.Fatalf("produced %d records; want 1", n)
	}
}

func TestUplinkHeadersAndKey(t *testing.T) {
	fp := &fakeProducer{}
	u := newTestUplink(t, testkit.TelemetryMapping(""), fp)
	m := &mqttfront.Message{Topic: "devices/d7/telemetry", Payload: []byte{0xff, 0}, QoS: 1, ClientID: "c7", ReceivedAt: time.Now(),
		Properties: mqttfront.Properties{User: []mqttfront.UserProperty{{Key: "k", Value: "v"}}, ContentType: "application/octet-stream"}}
	done := make(chan error, 1)
	u.Submit(m, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r := fp.recs[0]
	if string(r.Key) != "d7" || string(r.Value) != "\xff\x00" {
		t.Errorf("record key %q value %q; want d7 and the raw payload", r.Key, r.Value)
	}
	hs := map[string]string{}
	for _, h := range r.Headers {
		hs[h.Key] = string(h.Value)
	}
	for k, v := range map[string]string{"mqtt.topic": "devices/d7/telemetry", "mqtt.client_id": "c7", "mqtt.qos": "1", "k": "v", "mqtt.content_type": "application/octet-stream"} {
		if hs[k] != v {
			t.Errorf("header %s = %q; want %q", k, hs[k], v)
		}
	}
}
