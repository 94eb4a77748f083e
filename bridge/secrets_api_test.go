package bridge

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminAPINeverPrintsKafkaSecrets runs a bridge with a SASL password
// inline, then one in a password_file, and reads every GET endpoint of the
// admin listener: no answer contains the password.
func TestAdminAPINeverPrintsKafkaSecrets(t *testing.T) {
	const (
		inline = "inline-Kafka-S3cret-91c2"
		inFile = "file-Kafka-S3cret-4be7"
	)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "kafka-password")
	if err := os.WriteFile(pwFile, []byte(inFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, base string) {
		paths := []string{"/api/v1/overview", "/api/v1/history", "/api/v1/clients", "/api/v1/subscriptions",
			"/api/v1/retained", "/api/v1/routes", "/api/v1/openapi.json", "/readyz", "/healthz", "/metrics", "/"}
		for _, p := range paths {
			resp, err := http.Get(base + p)
			if err != nil {
				t.Fatalf("GET %s: %v", p, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, s := range []string{inline, inFile} {
				if strings.Contains(string(body), s) {
					t.Errorf("GET %s (%d) contains a Kafka secret", p, resp.StatusCode)
				}
			}
		}
	}
	t.Run("inline password", func(t *testing.T) {
		_, base := apiBridge(t, func(c *Config) {
			c.Kafka.SASL.Mechanism, c.Kafka.SASL.Username, c.Kafka.SASL.Password = "SCRAM-SHA-512", "bridge", inline
		})
		check(t, base)
	})
	t.Run("password file", func(t *testing.T) {
		_, base := apiBridge(t, func(c *Config) {
			c.Kafka.SASL.Mechanism, c.Kafka.SASL.Username, c.Kafka.SASL.PasswordFile = "PLAIN", "bridge", pwFile
		})
		check(t, base)
	})
}
