package bridge

import (
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

// apiBridge runs a bridge (Kafka unreachable) with the admin listener on
// loopback and returns it with the API's base URL (testkit.APIBridge; the
// admin API's own tests are in admin/).
func apiBridge(t *testing.T, mutate func(*Config)) (*Bridge, string) {
	t.Helper()
	return testkit.APIBridge(t, DefaultConfig(), mutate, func(c Config) (*Bridge, error) {
		return New(c, Options{Logger: zaptest.NewLogger(t), Version: "test-1.2.3"})
	})
}
