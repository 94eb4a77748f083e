package deploy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

// TestKafkaCloudRecipes: every config fragment of the README's "Kafka
// security" section loads, validates and builds the Kafka client
// configuration (files read, token provider made), once its /run/secrets
// files exist; and each uses the mechanism, TLS and port its provider
// needs.
func TestKafkaCloudRecipes(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	i := strings.Index(sec, "\n## Kafka security\n")
	if i < 0 {
		t.Fatal(`README.md has no "## Kafka security" section`)
	}
	sec = sec[i+1:]
	if j := strings.Index(sec[3:], "\n## "); j >= 0 {
		sec = sec[:j+3]
	}
	want := map[string]struct {
		mech string
		mtls bool
		ca   bool
		port string
	}{
		"Confluent Cloud (SASL_SSL, PLAIN)":       {kafka.SASLPlain, false, false, ":9092"},
		"Amazon MSK, TLS (mutual TLS, port 9094)": {"", true, false, ":9094"},
		"Amazon MSK, SASL/SCRAM (port 9096)":      {kafka.SASLScramSHA512, false, false, ":9096"},
		"Amazon MSK, IAM (port 9098)":             {kafka.SASLOAuthBearer, false, false, ":9098"},
		"Aiven for Apache Kafka (SASL, SCRAM)":    {kafka.SASLScramSHA256, false, true, ""},
		"Redpanda Cloud (SASL_SSL, SCRAM)":        {kafka.SASLScramSHA256, false, false, ":9092"},
	}
	yamlBlock := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	seen := map[string]bool{}
	secrets := t.TempDir()
	writePEMs(t, secrets)
	for _, chunk := range strings.Split(sec, "\n### ")[1:] {
		title, rest, _ := strings.Cut(chunk, "\n")
		m := yamlBlock.FindStringSubmatch(rest)
		if m == nil {
			continue // the Mechanisms table
		}
		body := m[1]
		w, ok := want[title]
		if !ok {
			t.Errorf("README.md recipe %q is not checked here; add it to want", title)
			continue
		}
		seen[title] = true
		t.Run(title, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			body := strings.ReplaceAll(body, "/run/secrets/", secrets+"/")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := bridge.Load(path, nil, nil)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if err := bridge.CheckFiles(cfg); err != nil {
				t.Fatalf("check files: %v", err)
			}
			k := cfg.Kafka
			if _, err := k.SaramaConfig(); err != nil {
				t.Fatalf("SaramaConfig: %v", err)
			}
			if !k.TLS.Enabled || k.TLS.InsecureSkipVerify {
				t.Errorf("tls enabled %v, insecure_skip_verify %v; want true, false", k.TLS.Enabled, k.TLS.InsecureSkipVerify)
			}
			if k.SASL.Mechanism != w.mech || (k.TLS.CertFile != "") != w.mtls || (k.TLS.CAFile != "") != w.ca {
				t.Errorf("mechanism %q, client cert %v, ca_file %v; want %q, %v, %v", k.SASL.Mechanism, k.TLS.CertFile != "", k.TLS.CAFile != "", w.mech, w.mtls, w.ca)
			}
			if k.SASL.Password != "" {
				t.Error("the recipe writes the password into the config; use password_file")
			}
			if !strings.HasSuffix(k.BootstrapServers[0], w.port) {
				t.Errorf("bootstrap %q; want port %q", k.BootstrapServers[0], w.port)
			}
		})
	}
	for title := range want {
		if !seen[title] {
			t.Errorf("README.md has no recipe %q", title)
		}
	}
}

// writePEMs puts every file the recipes name under dir: passwords, and a
// real certificate, key and CA (the client configuration parses them).
func writePEMs(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "recipe"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	files := map[string][]byte{
		"msk-client.pem": cert, "aiven-ca.pem": cert,
		"msk-client.key":       pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		"confluent-api-secret": []byte("secret\n"),
		"msk-scram-password":   []byte("secret\n"),
		"aiven-password":       []byte("secret\n"),
		"redpanda-password":    []byte("secret\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
