package bridge

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// runBridge runs b until the test ends (then cancels it and wants Run to
// return nil within 30 s) and returns once its MQTT listeners are up.
func runBridge(t *testing.T, b *Bridge) {
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
