package integration

// Helpers of the secured-Kafka tests: ACLs for a principal, Kafka's
// unsecured JWTs, and certificates made on the fly (another CA, an expired
// server certificate).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// grant gives principal (User:name) what the bridge needs and no more:
// WRITE and DESCRIBE on the uplink topics (WRITE is enough for the
// idempotent producer since KIP-679), READ and DESCRIBE on the downlink
// topics, READ on the consumer group. Empty lists grant nothing. It waits
// until the broker's authorizer lists every ACL.
func grant(t testing.TB, b testenv.SecureBroker, principal string, write, read []string, group string) {
	t.Helper()
	allow := func(op sarama.AclOperation) *sarama.Acl {
		return &sarama.Acl{Principal: "User:" + principal, Host: "*", Operation: op, PermissionType: sarama.AclPermissionAllow}
	}
	var ras []*sarama.ResourceAcls
	res := func(typ sarama.AclResourceType, name string, ops ...sarama.AclOperation) {
		ra := &sarama.ResourceAcls{Resource: sarama.Resource{ResourceType: typ, ResourceName: name, ResourcePatternType: sarama.AclPatternLiteral}}
		for _, op := range ops {
			ra.Acls = append(ra.Acls, allow(op))
		}
		ras = append(ras, ra)
	}
	for _, tp := range write {
		res(sarama.AclResourceTopic, tp, sarama.AclOperationWrite, sarama.AclOperationDescribe)
	}
	for _, tp := range read {
		res(sarama.AclResourceTopic, tp, sarama.AclOperationRead, sarama.AclOperationDescribe)
	}
	if group != "" {
		res(sarama.AclResourceGroup, group, sarama.AclOperationRead)
	}
	if len(ras) == 0 {
		return
	}
	admin, err := sarama.NewClusterAdmin([]string{b.Plaintext}, adminSaramaConfig())
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	defer admin.Close()
	if err := admin.CreateACLs(ras); err != nil {
		t.Fatalf("grant %s: %v", principal, err)
	}
	want := 0
	for _, ra := range ras {
		want += len(ra.Acls)
	}
	p := "User:" + principal
	waitFor(t, kafkaWait, "the ACLs of "+principal, func() bool {
		got, err := admin.ListAcls(sarama.AclFilter{ResourceType: sarama.AclResourceAny, ResourcePatternTypeFilter: sarama.AclPatternAny,
			Principal: &p, Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny})
		n := 0
		for _, ra := range got {
			n += len(ra.Acls)
		}
		return err == nil && n >= want
	})
}

func adminSaramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	return cfg
}

// unsecuredJWT is a token for Kafka's unsecured OAUTHBEARER validator:
// header {"alg":"none"}, the claims, and an empty signature.
func unsecuredJWT(claims map[string]any) string {
	enc := base64.RawURLEncoding
	h := enc.EncodeToString([]byte(`{"alg":"none"}`))
	c, _ := json.Marshal(claims)
	return h + "." + enc.EncodeToString(c) + "."
}

// jwtFor is an unsecured JWT for sub valid from a minute ago until exp.
func jwtFor(sub string, exp time.Time) string {
	return unsecuredJWT(map[string]any{"sub": sub, "iat": time.Now().Add(-time.Minute).Unix(), "exp": exp.Unix()})
}

// writeSecret writes body to dir/name (mode 0600) and returns the path.
func writeSecret(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// serverCert issues a certificate for 127.0.0.1 valid from notBefore to
// notAfter.
func (ca *testCA) serverCert(t testing.TB, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "expired broker"},
		NotBefore: notBefore, NotAfter: notAfter, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsListener accepts TLS connections with cert on a loopback port and
// completes handshakes (and nothing else) until the test ends. It returns
// the address.
func tlsListener(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln.Addr().String()
}
