package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// fakeFront is a front end with no clients whose readiness the test
// controls.
type fakeFront struct{ ready chan struct{} }

func (f fakeFront) Ready() <-chan struct{}                      { return f.ready }
func (fakeFront) Stats() mqttfront.Stats                        { return mqttfront.Stats{ConnectionsCurrent: 3} }
func (fakeFront) Clients() []mqttfront.ClientInfo               { return nil }
func (fakeFront) Subscriptions(string) []mqttfront.Subscription { return nil }
func (fakeFront) Kick(string) bool                              { return false }
func (fakeFront) Publish(_ *mqttfront.Message, done func(error)) {
	done(nil)
}
func (fakeFront) Client(string) (mqttfront.ClientInfo, []mqttfront.Subscription, bool) {
	return mqttfront.ClientInfo{}, nil, false
}
func (fakeFront) RetainedMessages(string, int) []mqttfront.RetainedInfo { return nil }

// fakeBridge answers with fixed snapshots.
type fakeBridge struct{}

func (fakeBridge) Kafka() KafkaState {
	return KafkaState{Reachable: true, Probe: kafka.Health{State: kafka.KafkaUp, Reason: kafka.ReasonOK, Brokers: 3},
		Producer: kafka.ProducerStats{Produced: 42}, Downlink: true, Lag: 7,
		Consumer: kafka.ConsumerHealth{Partitions: []string{"cmd/0"}, Lag: 7}}
}
func (fakeBridge) Parts() []Part {
	return []Part{{Part: "kafka", Up: true, State: "up", Reason: "ok"}}
}
func (fakeBridge) Readiness() (bool, any) { return false, map[string]string{"why": "fake"} }
func (fakeBridge) Rules() *mapping.Rules  { return nil }
func (fakeBridge) ExplainUplink(*mapping.Publish, int32) (mapping.Explanation, int32) {
	return mapping.Explanation{}, -1
}
func (fakeBridge) Mapping() mapping.Config { return mapping.Config{} }
func (fakeBridge) Routes() Routes          { return Routes{Unmatched: 5} }
func (fakeBridge) Cluster() Cluster        { return nil }

// TestServerSeam runs the admin listener on fakes of its two interfaces:
// New starts nothing, /readyz passes the bridge's answer through, the API
// answers 503 until the front end is ready and then reads only the
// interfaces, and Run returns once ctx ends.
func TestServerSeam(t *testing.T) {
	ff := fakeFront{ready: make(chan struct{})}
	s, err := New(Config{Address: "127.0.0.1:0", ReadHeaderTimeout: time.Second, ReadTimeout: time.Second,
		WriteTimeout: time.Second, IdleTimeout: time.Second, MaxHeaderBytes: 4096}, ff, fakeBridge{},
		Options{Logger: zaptest.NewLogger(t), Version: "v-seam", Metrics: http.NotFoundHandler(),
			Refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "refused"}, []string{"reason"})})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "" {
		t.Fatalf("Addr() = %q before Run; want \"\" (New starts nothing)", s.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
		http.DefaultClient.CloseIdleConnections()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for s.Addr() == "" {
		if time.Now().After(deadline) {
			t.Fatal("admin listener not up within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	base := "http://" + s.Addr()
	get := func(path string, out any) int {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
		return resp.StatusCode
	}

	var why map[string]string
	if code := get("/readyz", &why); code != http.StatusServiceUnavailable || why["why"] != "fake" {
		t.Errorf("GET /readyz = %d %v; want 503 with the bridge's body", code, why)
	}
	if code := get("/api/v1/overview", nil); code != http.StatusServiceUnavailable {
		t.Errorf("GET overview before the front end is ready = %d; want 503", code)
	}
	if err := s.Run(ctx); err == nil {
		t.Error("second Run = nil; want an error")
	}
	close(ff.ready)
	var ov overviewJSON
	if code := get("/api/v1/overview", &ov); code != http.StatusOK || ov.Version != "v-seam" || ov.Connections.Current != 3 ||
		!ov.Kafka.Reachable || ov.Kafka.Produced != 42 || ov.Spool.State != "disabled" || !ov.Downlink.Enabled || ov.Downlink.Lag != 7 ||
		ov.Messages.Unmatched != 5 {
		t.Errorf("GET overview = %d %+v; want the fakes' figures", code, ov)
	}
	if ov.Kafka.State != "up" || ov.Kafka.Reason != "ok" || ov.Kafka.Brokers != 3 || len(ov.Parts) != 1 || ov.Parts[0].Part != "kafka" ||
		len(ov.Downlink.Partitions) != 1 || ov.Downlink.Partitions[0] != "cmd/0" {
		t.Errorf("GET overview: kafka %+v, parts %+v, downlink %+v; want the fakes' probe, parts and partitions",
			ov.Kafka, ov.Parts, ov.Downlink)
	}
}
