package bridge

import (
	"context"
	"errors"
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestAdminFrontWaitsOnBarrier: in cluster mode the admin API's publish
// waits on the read barrier before the front end gets the message, and a
// barrier that fails completes the publish with its error (nothing
// published); on one node the admin API gets the front end itself.
func TestAdminFrontWaitsOnBarrier(t *testing.T) {
	b := &Bridge{}
	if f := b.adminFront(); f != nil {
		if _, ok := f.(syncedFront); ok {
			t.Fatal("one node: the admin API publishes through the barrier; want the front end itself")
		}
	}
	refused := errors.New("route table not reachable")
	calls := 0
	b.readBarrier = func(ctx context.Context) error {
		calls++
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the barrier's wait has no deadline")
		}
		return refused
	}
	f, ok := b.adminFront().(syncedFront)
	if !ok {
		t.Fatal("cluster mode: the admin API does not publish through the barrier")
	}
	var got error
	f.Publish(&mqttfront.Message{Topic: "cmd/x", QoS: 1}, func(err error) { got = err })
	if calls != 1 || !errors.Is(got, refused) {
		t.Fatalf("barrier called %d times, publish completed with %v; want 1 call and the barrier's error", calls, got)
	}
}
