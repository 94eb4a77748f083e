package kafka

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

func TestMain(m *testing.M) {
	// go-metrics (used by sarama) starts one process-wide meter ticker on
	// first use and never stops it; it is not ours to end.
	// sarama's per-partition circuit breaker (go-resiliency) starts a
	// timer goroutine when it opens (after errors, e.g. a producer cut short
	// at shutdown while Kafka hangs); it sleeps 10 s and ends by itself,
	// and nothing can stop it sooner.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		goleak.IgnoreAnyFunction("github.com/eapache/go-resiliency/breaker.(*Breaker).timer"))
}

// waitFor is the kit's WaitFor (one poll policy for the module).
var waitFor = testkit.WaitFor
