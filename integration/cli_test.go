package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

// The binary is built once per test process, into a directory TestMain
// removes.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// bridgeBinary builds ./cmd/mqtt-kafka-bridge (once) and returns its path.
func bridgeBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "mqtt-kafka-bridge-it-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "mqtt-kafka-bridge")
		cmd := exec.Command("go", "build", "-o", built.path, "./cmd/mqtt-kafka-bridge")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatalf("build the binary: %v", built.err)
	}
	return built.path
}

func removeBinary() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

// shippedConfig is the repository's config.yaml.
func shippedConfig() string { return filepath.Join(testenv.RepoRoot(), "config.yaml") }

// cleanEnv is the test's environment without BRIDGE_* variables, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BRIDGE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runCLI runs the binary to completion (at most a minute) in a temporary
// working directory and returns its exit code, stdout and stderr.
func runCLI(t testing.TB, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bridgeBinary(t), args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	default:
		t.Fatalf("run %v: %v", args, err)
		return -1, "", ""
	}
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCLI proves the commands an operator uses without Kafka: explain
// (uplink and downlink dry runs of the shipped rules), check-config and
// version, and that bad configuration exits 1 with a message naming the
// key at fault.
func TestCLI(t *testing.T) {
	cfg := shippedConfig()
	p3 := kafka.Partition([]byte("d1"), 3)
	cases := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stdout []string // substrings of stdout
		stderr []string // substrings of stderr
	}{
		{name: "explain uplink", args: []string{"explain", "devices/d1/telemetry", "--config", cfg}, code: 0,
			stdout: []string{"rule:        telemetry", "kafka topic: iot.telemetry", `key:         "d1"`, fmt.Sprintf("partition:   %d of 3", p3), "ack:         kafka"}},
		{name: "explain uplink partitions", args: []string{"explain", "--config", cfg, "--partitions", "6", "devices/device-42/telemetry"}, code: 0,
			stdout: []string{`key:         "device-42"`, "partition:   3 of 6"}}, // Java murmur2: see javaVectors
		{name: "explain sub-topic rule", args: []string{"explain", "--config", cfg, "devices/d1/telemetry/temp"}, code: 0,
			stdout: []string{"rule:        telemetry-sub", "kafka topic: iot.telemetry"}},
		{name: "explain downlink", args: []string{"explain", "--config", cfg, "--downlink", "iot.commands", "--key", "d1"}, code: 0,
			stdout: []string{"rule:        commands", "mqtt topic:  devices/d1/commands", "qos:         1"}},
		{name: "explain downlink unknown topic", args: []string{"explain", "--config", cfg, "--downlink", "iot.nothing", "--key", "d1"}, code: 1,
			stdout: []string{"not routed"}},
		{name: "explain unmatched", args: []string{"explain", "--config", cfg, "elsewhere/d1"}, code: 1,
			stdout: []string{"outcome:", "no rule routes this topic"}},
		{name: "check-config shipped", args: []string{"check-config", "--config", cfg}, code: 0, stdout: []string{"config ok"}},
		{name: "version", args: []string{"version"}, code: 0, stdout: []string{"mqtt-kafka-bridge "}},
		{name: "unknown key", args: []string{"check-config", "--config", writeFile(t, "c.yaml", "mqtt:\n  listners:\n    tcp:\n      address: \":1\"\n")}, code: 1,
			stderr: []string{"mqtt.listners", "unknown key"}},
		{name: "bad duration", args: []string{"check-config", "--config", writeFile(t, "c.yaml", "mqtt:\n  connect_timeout: tenseconds\n")}, code: 1,
			stderr: []string{"connect_timeout"}},
		{name: "invalid rule", args: []string{"check-config", "--config", writeFile(t, "c.yaml", "mapping:\n  uplink:\n    - name: bad\n      mqtt_topic: \"devices/#/x\"\n      kafka_topic: t\n")}, code: 1,
			stderr: []string{"mapping.uplink[0]", "mqtt_topic"}},
		{name: "bad env var", env: []string{"BRIDGE_NOPE=1"}, args: []string{"check-config", "--config", cfg}, code: 1,
			stderr: []string{"BRIDGE_NOPE"}},
		{name: "bad --set key", args: []string{"check-config", "--config", cfg, "--set", "kafka.nope=1"}, code: 1,
			stderr: []string{"kafka.nope"}},
		{name: "run refuses bad config", args: []string{"--config", cfg, "--set", "mqtt.max_packet_size=-5"}, code: 1,
			stderr: []string{"mqtt.max_packet_size"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, cleanEnv(tc.env...), tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d; want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}
