package admin_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// The API's tests run a whole bridge (Kafka unreachable) and talk to its
// admin listener over HTTP, so they live in package admin_test, which may
// import bridge. The helpers below are the bridge package's test helpers
// (bridge/run_helper_test.go, bridge/uplink_test.go), copied until a shared
// test kit exists.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}

// runBridge runs b until the test ends (then cancels it and wants Run to
// return nil within 30 s) and returns once its MQTT listeners are up.
func runBridge(t *testing.T, b *bridge.Bridge) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after cancel")
		}
		http.DefaultClient.CloseIdleConnections()
	})
	select {
	case <-b.Front().Ready():
	case err := <-runErr:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("listeners not ready")
	}
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func telemetryMapping(dlq string) mapping.Config {
	return mapping.Config{
		Uplink:          []mapping.UplinkRule{{Name: "telemetry", MQTTTopic: "devices/{device}/telemetry", KafkaTopic: "iot.telemetry", Key: "{device}"}},
		Unmatched:       mapping.UnmatchedPolicy{Action: mapping.UnmatchedDrop},
		DeadLetterTopic: dlq,
	}
}
