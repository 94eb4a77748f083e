package kafka

import (
	"testing"
	"time"

	"go.uber.org/goleak"
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

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
