package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// TestVersion checks that the binary knows what it was built from: `go
// build` in a clone reports the VCS revision and time (from the build
// info), `make build` reports `git describe --tags --always --dirty`, and
// the admin API, which the dashboard's "Version / uptime" card reads, shows
// the same string as `version`.
//
// The go build half uses a fresh clone of HEAD and -buildvcs=true: Go does
// not stamp VCS information in a linked git worktree (golang/go#58218), and
// a GOFLAGS=-buildvcs=false in the environment would turn it off.
func TestVersion(t *testing.T) {
	git := requireBinary(t, "git")
	gitOut := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(git, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	root := testenv.RepoRoot()
	rev := gitOut(root, "rev-parse", "HEAD")

	// go build in a clone of HEAD with the working tree's files copied over
	// it (the code under test, committed or not).
	clone := filepath.Join(t.TempDir(), "clone")
	gitOut(root, "clone", "-q", "--no-checkout", root, clone)
	gitOut(clone, "checkout", "-q", rev)
	for _, f := range strings.Split(gitOut(root, "ls-files", "-co", "--exclude-standard"), "\n") {
		data, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(clone, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clone, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dirty := gitOut(clone, "status", "--porcelain") != ""
	goBin := filepath.Join(t.TempDir(), "mqtt-kafka-bridge")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", goBin, "./cmd/mqtt-kafka-bridge")
	build.Dir = clone
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in the clone: %v\n%s", err, b)
	}
	b, err := exec.Command(goBin, "version").Output()
	if err != nil {
		t.Fatalf("go build binary: version: %v", err)
	}
	goBuilt := strings.TrimSpace(strings.TrimPrefix(string(b), "mqtt-kafka-bridge "))
	commitTime := gitOut(clone, "show", "-s", "--format=%cI", "HEAD")
	if !strings.Contains(goBuilt, rev[:12]) || strings.Contains(goBuilt, "dirty") != dirty {
		t.Errorf("go build binary: version printed %q; want it to name the revision %s (dirty: %v)", b, rev[:12], dirty)
	}
	if ct, err := time.Parse(time.RFC3339, commitTime); err != nil || !strings.Contains(goBuilt, ct.UTC().Format(time.RFC3339)) {
		t.Errorf("go build binary: version printed %q; want the commit time %s (UTC)", b, commitTime)
	}

	// make build.
	makeBin := requireBinary(t, "make")
	out := filepath.Join(t.TempDir(), "mqtt-kafka-bridge")
	cmd := exec.Command(makeBin, "-s", "build", "BUILD_OUT="+out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, b)
	}
	describe := gitOut(root, "describe", "--tags", "--always", "--dirty")
	b, err = exec.Command(out, "version").Output()
	if err != nil {
		t.Fatalf("make build binary: version: %v", err)
	}
	if got, want := strings.TrimSpace(string(b)), "mqtt-kafka-bridge "+describe; got != want {
		t.Errorf("make build binary: version printed %q; want %q", got, want)
	}

	// The admin API (and so the dashboard) of the go-built binary.
	mqttPort, wsPort, adminPort := freePort(t), freePort(t), freePort(t)
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	br := startProcess(t, goBin, "--config", shippedConfig(),
		"--set", fmt.Sprintf("mqtt.listeners.tcp.address=127.0.0.1:%d", mqttPort),
		"--set", fmt.Sprintf("mqtt.listeners.ws.address=127.0.0.1:%d", wsPort),
		"--set", "admin.address="+admin,
		"--set", "mqtt.data_dir="+t.TempDir(),
		"--set", "kafka.spool.dir="+t.TempDir(),
		"--set", "kafka.bootstrap_servers=127.0.0.1:1",
	)
	var overview struct {
		Version string `json:"version"`
	}
	waitFor(t, mqttWait, "GET /api/v1/overview", func() bool {
		select {
		case <-br.done:
			t.Fatalf("the bridge exited early: %v\n%s", br.err, br.out.String())
		default:
		}
		code, body := httpGet(admin, "/api/v1/overview")
		return code == 200 && json.Unmarshal([]byte(body), &overview) == nil
	})
	if overview.Version != goBuilt {
		t.Errorf("/api/v1/overview version = %q; want %q as `version` prints", overview.Version, goBuilt)
	}
}
