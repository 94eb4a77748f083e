package integration

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// bridge, Kafka client and MQTT client a test starts must be fully stopped
// by the time it ends.
//
// One goroutine is ignored: go-metrics' meter arbiter. sarama registers
// meters in go-metrics by default (the bridge's producer and consumer, and
// the test's own clients), and go-metrics starts one process-wide ticker
// goroutine for all meters on the first one and never stops it. It is a
// singleton, not a per-client leak, so it cannot grow.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
}
