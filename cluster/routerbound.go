package cluster

// Bounded copies (cluster/README.md "Failures", Kafka unreachable). A
// publish with remote subscribers is acknowledged once its copies are in
// Kafka; sarama's async producer fails a copy only after Retry.Max
// attempts, each as long as Net.ReadTimeout when Kafka hangs: minutes of
// a withheld PUBACK, and every later ack of the connection waits behind
// it (acks go out in arrival order). WithTimeout bounds that wait by
// cluster.copy_timeout: the publish then fails like a copy Kafka refused
// (v5 PUBACK/PUBREC 0x80, v3 connection closed; the device sends it
// again), while the copy itself may still land (a duplicate, never a
// loss: at-least-once).

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// ErrCopyTimeout: a publish's copies were not all acknowledged by Kafka
// within cluster.copy_timeout.
var ErrCopyTimeout = fmt.Errorf("copies not acknowledged within cluster.copy_timeout: %w", mqttfront.ErrUnavailable)

// timedRouter is a Router whose completions come within a bound.
type timedRouter struct {
	*Router
	timeout time.Duration
}

var _ mqttfront.SharedRouter = timedRouter{}

// WithTimeout is r for the front end (SetRemoteRouter): the same routing,
// with each publish's done called within cluster.copy_timeout (err
// ErrCopyTimeout when the copies are not all acked by then).
func (r *Router) WithTimeout() mqttfront.SharedRouter {
	return timedRouter{Router: r, timeout: r.node.cfg.CopyTimeout}
}

// Route is Router.Route with a bounded done.
func (t timedRouter) Route(m *mqttfront.Message, from string, done func(error)) {
	if done == nil {
		t.Router.Route(m, from, nil)
		return
	}
	d := &deadlineDone{done: done}
	t.Router.Route(m, from, d.complete)
	d.arm(t.timeout)
}

// RouteShared is Router.RouteShared with a bounded done.
func (t timedRouter) RouteShared(m *mqttfront.Message, from string, done func(error)) {
	if done == nil {
		t.Router.RouteShared(m, from, nil)
		return
	}
	d := &deadlineDone{done: done}
	t.Router.RouteShared(m, from, d.complete)
	d.arm(t.timeout)
}

// deadlineDone calls done once: with the router's outcome, or
// ErrCopyTimeout when the timer armed after Route fires first. The timer
// is armed only when Route did not complete at once (no copies), so a
// publish without remote subscribers costs one small allocation and no
// timer.
type deadlineDone struct {
	done  func(error)
	state atomic.Bool // done was called
	timer atomic.Pointer[time.Timer]
}

func (d *deadlineDone) complete(err error) {
	if !d.state.CompareAndSwap(false, true) {
		return
	}
	if t := d.timer.Load(); t != nil {
		t.Stop()
	}
	d.done(err)
}

// arm starts the timer unless done was called already.
func (d *deadlineDone) arm(timeout time.Duration) {
	if d.state.Load() {
		return
	}
	t := time.AfterFunc(timeout, func() { d.complete(ErrCopyTimeout) })
	d.timer.Store(t)
	if d.state.Load() {
		t.Stop() // completed while the timer was being made
	}
}
