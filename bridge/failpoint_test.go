package bridge

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

// TestFailpoint: unset, there is no hook; set, it fires at its point only;
// with an arming file it fires only while the file exists, once, and the
// file is gone afterwards.
func TestFailpoint(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	kills := 0
	kill := func() { kills++ }
	if fp := failpoint(env(nil), zap.NewNop(), kill); fp != nil {
		t.Fatal("failpoint() with no variable set = a hook; want nil")
	}

	fp := failpoint(env(map[string]string{FailpointEnv: FailpointDownlinkBeforeDeliver}), zap.NewNop(), kill)
	fp("some.other.point")
	if kills != 0 {
		t.Fatalf("another point killed the process")
	}
	fp(FailpointDownlinkBeforeDeliver)
	fp(FailpointDownlinkBeforeDeliver)
	if kills != 2 {
		t.Fatalf("without an arming file: %d kills after 2 passes; want 2", kills)
	}

	kills = 0
	armed := filepath.Join(t.TempDir(), "armed")
	fp = failpoint(env(map[string]string{FailpointEnv: FailpointDownlinkBeforeDeliver, FailpointOnceEnv: armed}), zap.NewNop(), kill)
	fp(FailpointDownlinkBeforeDeliver)
	if kills != 0 {
		t.Fatalf("not armed (no file): killed")
	}
	if err := os.WriteFile(armed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fp(FailpointDownlinkBeforeDeliver)
	fp(FailpointDownlinkBeforeDeliver)
	if kills != 1 {
		t.Fatalf("armed once: %d kills after 2 passes; want 1", kills)
	}
	if _, err := os.Stat(armed); !os.IsNotExist(err) {
		t.Errorf("the arming file is still there after firing (%v); want it removed", err)
	}
}
