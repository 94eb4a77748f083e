package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("mqtt:\n  max_inflight: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shipped := filepath.Join("..", "..", "config.yaml")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // in stdout
		wantErr  string // in stderr
	}{
		{"version", []string{"version"}, 0, "mqtt-kafka-bridge", ""},
		{"check shipped config", []string{"check-config", "--config", shipped}, 0, "config ok", ""},
		{"check bad config", []string{"check-config", "--config", bad}, 1, "", "mqtt.max_inflight"},
		{"missing config file", []string{"check-config", "--config", "/nonexistent.yaml"}, 1, "", "/nonexistent.yaml"},
		{"run with bad config", []string{"--config", bad}, 1, "", "mqtt.max_inflight"},
		{"unknown --set", []string{"check-config", "--config", shipped, "--set", "mqtt.nope=1"}, 1, "", "mqtt.nope"},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command"},
		{"explain uplink", []string{"explain", "--config", shipped, "devices/d1/telemetry"}, 0, "kafka topic: iot.telemetry", ""},
		{"explain unmatched", []string{"explain", "--config", shipped, "nowhere/x"}, 1, "no rule routes", ""},
		{"explain downlink", []string{"explain", "--config", shipped, "--downlink", "iot.commands", "--key", "d1"}, 0, "mqtt topic:  devices/d1/commands", ""},
		{"explain downlink without key", []string{"explain", "--config", shipped, "--downlink", "iot.commands"}, 1, "not routed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, &out, &errb)
			if code != tt.wantCode {
				t.Errorf("exit %d; want %d (stdout %q, stderr %q)", code, tt.wantCode, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q; want it to contain %q", out.String(), tt.wantOut)
			}
			if !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("stderr %q; want it to contain %q", errb.String(), tt.wantErr)
			}
		})
	}
}
