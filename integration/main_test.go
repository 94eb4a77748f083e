package integration

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// bridge, Kafka client and MQTT client a test starts must be fully stopped
// by the time it ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
