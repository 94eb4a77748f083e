package bridge

// Failpoints: test hooks at which the bridge process kills itself with
// SIGKILL, as kill -9 would at that exact point (no deferred work, no
// commit, no goodbye). Production leaves the variables unset; the bridge
// then keeps a nil function and each point costs a nil check.

import (
	"os"
	"syscall"

	"go.uber.org/zap"
)

// FailpointEnv names the failpoint at which the process kills itself
// (the variable the cluster's failpoints read too; one process has one
// failpoint at a time).
const FailpointEnv = "MQTT_BRIDGE_CLUSTER_FAILPOINT"

// FailpointOnceEnv, when set, is a file path that arms the failpoint: it
// fires only while the file exists, and the process that removes it
// first is the one that dies. Several replicas given the same path make
// exactly one crash, whichever reaches the point first, and a test arms
// the failpoint at the moment it chooses by creating the file. Unset:
// the failpoint fires every time.
const FailpointOnceEnv = "MQTT_BRIDGE_FAILPOINT_ONCE"

// FailpointDownlinkBeforeDeliver: a downlink record was consumed and
// mapped, and is about to be handed to the front end (local delivery and
// the copies to other replicas). Its offset is not marked.
const FailpointDownlinkBeforeDeliver = "downlink.before_deliver"

// failpoint returns the function the bridge calls at each failpoint, nil
// when the environment sets none; kill is what it does there (killSelf).
func failpoint(getenv func(string) string, log *zap.Logger, kill func()) func(point string) {
	at := getenv(FailpointEnv)
	if at == "" {
		return nil
	}
	once := getenv(FailpointOnceEnv)
	log.Warn("failpoint set: this process kills itself there (tests only)", zap.String("failpoint", at), zap.String("armed_by", once))
	return func(point string) {
		if point != at {
			return
		}
		if once != "" && os.Remove(once) != nil {
			return // not armed, or another process took it
		}
		log.Warn("failpoint reached: SIGKILL", zap.String("failpoint", point))
		_ = log.Sync()
		kill()
	}
}

// killSelf ends the process as kill -9 does.
func killSelf() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
