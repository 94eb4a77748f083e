package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigNeverPrintsSecrets runs check-config on valid and invalid
// configurations whose Kafka secrets come from the file, the environment,
// --set and a password_file: neither stdout nor stderr ever holds one.
func TestCheckConfigNeverPrintsSecrets(t *testing.T) {
	const (
		inYAML = "yaml-S3cret-0a9d"
		inEnv  = "env-S3cret-77b1"
		inSet  = "set-S3cret-c3e0"
		inFile = "file-S3cret-5f12"
	)
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte(inFile), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := func(name, kafka string) string {
		p := filepath.Join(dir, name)
		body := "mqtt:\n  data_dir: " + filepath.Join(dir, "data") + "\nkafka:\n" + kafka
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := conf("good.yaml", "  sasl: {mechanism: SCRAM-SHA-512, username: bridge, password: "+inYAML+"}\n")
	both := conf("both.yaml", "  sasl: {mechanism: PLAIN, username: bridge, password: "+inYAML+", password_file: "+pw+"}\n")
	noUser := conf("nouser.yaml", "  sasl: {mechanism: SCRAM-SHA-256, password: "+inYAML+"}\n")
	badType := conf("badtype.yaml", "  sasl: {mechanism: PLAIN, username: bridge, password: "+inYAML+"}\n  producer: {linger_ms: "+inYAML+"}\n")
	fileOK := conf("file.yaml", "  sasl: {mechanism: PLAIN, username: bridge, password_file: "+pw+"}\n")
	tests := []struct {
		name string
		env  string
		args []string
		code int
	}{
		{"valid, password in yaml", "", []string{"--config", good}, 0},
		{"valid, password_file", "", []string{"--config", fileOK}, 0},
		{"valid, password from env", inEnv, []string{"--config", fileOK, "--set", "kafka.sasl.password_file="}, 0},
		{"valid, password from --set", "", []string{"--config", good, "--set", "kafka.sasl.password=" + inSet}, 0},
		{"both password and file", "", []string{"--config", both}, 1},
		{"no username", inEnv, []string{"--config", noUser, "--set", "kafka.sasl.password=" + inSet}, 1},
		{"a bad value beside the password", "", []string{"--config", badType}, 1},
		{"unknown key beside the password", "", []string{"--config", good, "--set", "kafka.sasl.pasword=" + inSet}, 1},
		{"missing password file", "", []string{"--config", good, "--set", "kafka.sasl.password=", "--set", "kafka.sasl.password_file=" + pw + ".missing"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("BRIDGE_KAFKA_SASL_PASSWORD", tt.env)
			}
			var out, errb bytes.Buffer
			code := run(append([]string{"check-config"}, tt.args...), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d; want %d (stdout %q, stderr %q)", code, tt.code, out.String(), errb.String())
			}
			for _, s := range []string{inYAML, inEnv, inSet, inFile} {
				if strings.Contains(out.String()+errb.String(), s) {
					t.Errorf("check-config printed a secret: stdout %q stderr %q", out.String(), errb.String())
				}
			}
		})
	}
}
