package testkit

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// The timeouts of Start and RunBridge: how long a service may take to be
// ready, and to return from Run once its context is cancelled.
const (
	ReadyTimeout = 30 * time.Second
	StopTimeout  = 60 * time.Second
)

// Service is what Start runs: Run serves until ctx ends and then returns
// nil (a *mqttfront.Server, a *bridge.Bridge, a cluster node).
type Service interface {
	Run(ctx context.Context) error
}

// Start runs s in a goroutine until the test ends and returns once ready
// is closed. It fails the test (Fatalf) when Run returns first, or when
// ready is still open after ReadyTimeout. The returned stop cancels Run's
// context and waits up to StopTimeout for it, failing the test (Errorf)
// when Run returns an error or does not return; stop is idempotent and
// runs at Cleanup, so a test calls it only to stop early (a restart).
func Start(t testing.TB, s Service, ready <-chan struct{}) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = s.Run(ctx)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil {
				t.Errorf("Run returned %v; want nil after cancel", runErr)
			}
		case <-time.After(StopTimeout):
			t.Errorf("Run did not return within %v of cancel", StopTimeout)
		}
	})
	t.Cleanup(stop)
	select {
	case <-ready:
		return stop
	case <-done:
		err := runErr
		runErr = nil // reported here, not again by stop
		t.Fatalf("Run returned before it was ready: %v", err)
	case <-time.After(ReadyTimeout):
		t.Fatalf("not ready within %v", ReadyTimeout)
	}
	return stop
}

// Front is the part of the MQTT front end RunBridge waits on.
type Front interface {
	Ready() <-chan struct{}
}

// Bridge is what RunBridge needs of a *bridge.Bridge (whose Front is a
// *mqttfront.Server); an interface, so that package bridge's own tests
// may use the kit.
type Bridge[F Front] interface {
	Service
	Front() F
}

// RunBridge runs b (Start) until the test ends and returns once its MQTT
// listeners are up. At the end it also closes http.DefaultClient's idle
// connections, so that goleak sees none of the admin API's.
func RunBridge[F Front](t testing.TB, b Bridge[F]) (stop func()) {
	t.Helper()
	t.Cleanup(http.DefaultClient.CloseIdleConnections) // after stop: cleanups run last first
	return Start(t, b, b.Front().Ready())
}

// AdminURL waits for the admin listener of b (a *bridge.Bridge) and
// returns its base URL, "http://host:port".
func AdminURL(t testing.TB, b interface{ AdminAddr() string }) string {
	t.Helper()
	WaitFor(t, ReadyTimeout, "the admin listener", func() bool { return b.AdminAddr() != "" })
	return "http://" + b.AdminAddr()
}
