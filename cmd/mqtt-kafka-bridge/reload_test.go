package main

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestReloadOnSignal: each SIGHUP runs a reload; a refused one is logged
// once, with its error, and the loop goes on until ctx ends.
func TestReloadOnSignal(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	hup := make(chan os.Signal)
	results := []error{errors.New("mqtt.max_inflight: must be > 0"), nil}
	calls := 0
	reload := func() error { calls++; return results[calls-1] }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reloadOnSignal(ctx, hup, reload, zap.New(core))
	}()
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reloadOnSignal did not return after cancel")
	}
	if calls != 2 {
		t.Errorf("reload ran %d times; want 2", calls)
	}
	refused := logs.FilterMessage("reload refused; the running configuration is kept")
	if refused.Len() != 1 || refused.All()[0].Level != zapcore.ErrorLevel ||
		refused.All()[0].ContextMap()["error"] != "mqtt.max_inflight: must be > 0" {
		t.Errorf("refusal log entries %+v; want one error entry carrying the error", refused.All())
	}
}
