package bridge

import (
	"context"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge/admin"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// adminBarrierWait bounds the admin publish's wait on the cluster's read
// barrier (an HTTP request is waiting).
const adminBarrierWait = 10 * time.Second

// syncedFront is the front end as the admin API sees it in cluster mode:
// a publish first waits on the cluster's read barrier, as a downlink
// record does (downlink.go), so a message published from the dashboard
// right after a device subscribed at another replica reaches it.
type syncedFront struct {
	*mqttfront.Server
	barrier func(ctx context.Context) error
}

var _ admin.Front = syncedFront{}

// Publish waits on the barrier, then hands m to the front end; a barrier
// that fails completes the publish with its error (the API answers 503).
func (f syncedFront) Publish(m *mqttfront.Message, done func(error)) {
	ctx, cancel := context.WithTimeout(context.Background(), adminBarrierWait)
	err := f.barrier(ctx)
	cancel()
	if err != nil {
		done(err)
		return
	}
	f.Server.Publish(m, done)
}

// adminFront is what the admin API publishes through: the front end, or
// syncedFront in cluster mode.
func (b *Bridge) adminFront() admin.Front {
	if b.readBarrier == nil {
		return b.front
	}
	return syncedFront{Server: b.front, barrier: b.readBarrier}
}
