package admin_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The API's tests run a whole bridge (Kafka unreachable) and talk to its
// admin listener over HTTP, so they live in package admin_test, which may
// import bridge. Their helpers are the module's test kit (internal/testkit).

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}
