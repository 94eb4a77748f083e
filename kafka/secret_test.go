package kafka

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
	"strings"
	"testing"
	"time"
)

func TestSecretRereadsChangedFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	write := func(s string, mod time.Time) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	write("first\n", now)
	s := newSecret("kafka.sasl.password_file", "", p)
	if v, err := s.get(); err != nil || v != "first" {
		t.Fatalf("get() = %q, %v; want first", v, err)
	}
	write("second-longer\r\n", now.Add(time.Second))
	if v, err := s.get(); err != nil || v != "second-longer" {
		t.Fatalf("after rotation get() = %q, %v; want second-longer", v, err)
	}
	write("", now.Add(2*time.Second))
	if _, err := s.get(); err == nil || !strings.Contains(err.Error(), "kafka.sasl.password_file") {
		t.Errorf("empty file: %v; want an error naming the key", err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.get(); err == nil || !strings.Contains(err.Error(), "kafka.sasl.password_file") {
		t.Errorf("missing file: %v; want an error naming the key", err)
	}
	if v, _ := newSecret("k", "inline", "").get(); v != "inline" {
		t.Errorf("inline get() = %q; want inline", v)
	}
}

func TestSASLValidate(t *testing.T) {
	tests := []struct {
		name string
		s    SASLConfig
		want string // "" = valid
	}{
		{"off", SASLConfig{}, ""},
		{"scram with file", SASLConfig{Mechanism: SASLScramSHA256, Username: "u", PasswordFile: "/p"}, ""},
		{"plain inline", SASLConfig{Mechanism: SASLPlain, Username: "u", Password: "p"}, ""},
		{"both passwords", SASLConfig{Mechanism: SASLPlain, Username: "u", Password: "p", PasswordFile: "/p"}, "kafka.sasl.password_file"},
		{"no user", SASLConfig{Mechanism: SASLScramSHA512, Password: "p"}, "kafka.sasl.username"},
		{"file without mechanism", SASLConfig{PasswordFile: "/p"}, "kafka.sasl.mechanism"},
		{"oauth token file", SASLConfig{Mechanism: SASLOAuthBearer, OAuthBearer: OAuthBearerConfig{TokenFile: "/t"}}, ""},
		{"oauth msk", SASLConfig{Mechanism: SASLOAuthBearer, OAuthBearer: OAuthBearerConfig{AWSMSKIAM: AWSMSKIAMConfig{Region: "eu-west-1"}}}, ""},
		{"oauth nothing", SASLConfig{Mechanism: SASLOAuthBearer}, "kafka.sasl.oauthbearer"},
		{"oauth both", SASLConfig{Mechanism: SASLOAuthBearer, OAuthBearer: OAuthBearerConfig{TokenFile: "/t", AWSMSKIAM: AWSMSKIAMConfig{Region: "r"}}}, "kafka.sasl.oauthbearer"},
		{"oauth with user", SASLConfig{Mechanism: SASLOAuthBearer, Username: "u", OAuthBearer: OAuthBearerConfig{TokenFile: "/t"}}, "kafka.sasl.username"},
		{"role without region", SASLConfig{Mechanism: SASLOAuthBearer, OAuthBearer: OAuthBearerConfig{AWSMSKIAM: AWSMSKIAMConfig{RoleARN: "arn:aws:iam::1:role/r"}}}, "aws_msk_iam.region"},
		{"token file with scram", SASLConfig{Mechanism: SASLScramSHA256, Username: "u", OAuthBearer: OAuthBearerConfig{TokenFile: "/t"}}, "kafka.sasl.oauthbearer"},
		{"unknown", SASLConfig{Mechanism: "GSSAPI"}, "kafka.sasl.mechanism"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.validate()
			if tt.want == "" && err != nil {
				t.Errorf("validate() = %v; want nil", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("validate() = %v; want an error naming %s", err, tt.want)
			}
		})
	}
}

// A missing password_file fails when the sarama config is built, naming
// the key and not any content.
func TestSaramaConfigPasswordFileMissing(t *testing.T) {
	c := DefaultConfig()
	c.SASL = SASLConfig{Mechanism: SASLPlain, Username: "u", PasswordFile: filepath.Join(t.TempDir(), "none")}
	if _, err := c.SaramaConfig(); err == nil || !strings.Contains(err.Error(), "kafka.sasl.password_file") {
		t.Errorf("SaramaConfig() = %v; want an error naming kafka.sasl.password_file", err)
	}
}

// selfSigned writes a fresh self-signed certificate and key (PEM) with
// common name cn, stamping both files with mod.
func selfSigned(t *testing.T, certFile, keyFile, cn string, mod time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for path, blk := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

// A renewed client certificate is served at the next handshake; a pair
// that does not load (half written) keeps the last good one.
func TestCertReloaderPicksUpRenewal(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	now := time.Now()
	selfSigned(t, cf, kf, "first", now)
	tc, err := TLSConfig{Enabled: true, CertFile: cf, KeyFile: kf}.build()
	if err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		c, err := tc.GetClientCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := x509.ParseCertificate(c.Certificate[0])
		return x.Subject.CommonName
	}
	if got := cn(); got != "first" {
		t.Fatalf("CN = %q; want first", got)
	}
	selfSigned(t, cf, kf, "renewed", now.Add(time.Second))
	if got := cn(); got != "renewed" {
		t.Fatalf("after renewal CN = %q; want renewed", got)
	}
	if err := os.WriteFile(kf, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "renewed" {
		t.Errorf("with a broken key CN = %q; want the last good one (renewed)", got)
	}
}
