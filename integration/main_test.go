package integration

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// TestMain runs the tests, removes the binary they built, and fails the run
// if any test left a goroutine behind: every bridge, Kafka client and MQTT
// client a test starts must be fully stopped by the time it ends.
//
// One goroutine is ignored: go-metrics' meter arbiter. sarama registers
// meters in go-metrics by default (the bridge's producer and consumer, and
// the tests' own clients), and go-metrics starts one process-wide ticker
// goroutine for all meters on the first one and never stops it. It is a
// singleton, not a per-client leak, so it cannot grow.
func TestMain(m *testing.M) {
	code := m.Run()
	removeBinary()
	testenv.StopSecureKafka()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
