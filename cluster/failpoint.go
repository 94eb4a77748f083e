package cluster

// Failpoints: test hooks that crash a node at a named point, as kill -9
// would, seen from the log: no stopping heartbeat, no write after it.
// In-process tests set Janitor.failpoint (setFailpoint); a process test sets the
// environment variable below, and the process kills itself (SIGKILL).

import (
	"os"
	"syscall"

	"go.uber.org/zap"
)

// FailpointEnv names the failpoint at which a bridge process kills itself
// with SIGKILL (tests only; unset in production).
const FailpointEnv = "MQTT_BRIDGE_CLUSTER_FAILPOINT"

// envFailpoint is the failpoint of the environment, nil without one.
func envFailpoint() func(string) bool {
	at := os.Getenv(FailpointEnv)
	if at == "" {
		return nil
	}
	return func(point string) bool {
		if point == at {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		return false
	}
}

// at asks the failpoint; true: the node crashed there.
func (j *Janitor) at(point string) bool {
	fp := j.failpoint.Load()
	if fp == nil || !(*fp)(point) {
		return false
	}
	j.log.Warn("cluster: failpoint: node crashed", zap.String("failpoint", point))
	if j.crash != nil {
		j.crash()
	}
	return true
}

// crash stops the node as kill -9 would: session writes fail from now
// on, no stopping heartbeat is sent, and Run returns.
func (n *Node) crash() {
	n.registry.crashed.Store(true)
	n.claims.stopWrites()
	if f := n.cancelRun.Load(); f != nil {
		(*f)()
	}
}

// setFailpoint sets the janitor's failpoint (tests).
func (j *Janitor) setFailpoint(fp func(point string) bool) { j.failpoint.Store(&fp) }
