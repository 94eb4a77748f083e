package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
)

// TestSecurityExampleConfigValid: the "safe production settings" block of
// SECURITY.md is a config the bridge accepts, once its placeholders (the
// token's hash and the certificate paths) are filled in, so the page cannot
// drift from the config keys.
func TestSecurityExampleConfigValid(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "deploy", "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("SECURITY.md has no ```yaml block")
	}
	dir := t.TempDir()
	for _, f := range []string{"tls.crt", "tls.key", "ca.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("placeholder"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	body := strings.NewReplacer(
		"<sha256 of a long random token>", strings.Repeat("ab", 32),
		"/tls/", dir+"/",
		"/kafka/", dir+"/",
	).Replace(string(m[1]))
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := bridge.Load(path, []string{"BRIDGE_KAFKA_SASL_PASSWORD=secret"}, nil)
	if err != nil {
		t.Fatalf("load SECURITY.md's example: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("SECURITY.md's example is not a valid config: %v", err)
	}
	if cfg.MQTT.Auth.AllowAnonymous || !cfg.MQTT.Auth.BindClientIDToUser {
		t.Errorf("SECURITY.md's example: allow_anonymous %v, bind_client_id_to_user %v; want false, true",
			cfg.MQTT.Auth.AllowAnonymous, cfg.MQTT.Auth.BindClientIDToUser)
	}
}
