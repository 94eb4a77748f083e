package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

// TestReload: a good reload adds a user without dropping a connection, a
// bad one is refused and the running configuration is kept.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	write := func(users string) {
		body := fmt.Sprintf(`
admin: {address: ""}
kafka: {bootstrap_servers: ["127.0.0.1:1"]}
mqtt:
  data_dir: %q
  listeners: {tcp: {address: "127.0.0.1:0"}}
  auth:
    users: [%s]
`, filepath.Join(dir, "data"), users)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf(`{username: alice, password_hash: %q}`, hash("a-pw")))
	b := runFromFile(t, path)
	addr := "tcp://" + b.Front().Addr("tcp").String()
	connect := func(id, user, pw string) (mqtt.Client, error) {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(addr).SetClientID(id).SetUsername(user).SetPassword(pw).SetAutoReconnect(false))
		tok := c.Connect()
		if !tok.WaitTimeout(5 * time.Second) {
			return nil, fmt.Errorf("connect timed out")
		}
		return c, tok.Error()
	}

	alice, err := connect("c-alice", "alice", "a-pw")
	if err != nil {
		t.Fatalf("alice before reload: %v", err)
	}
	defer alice.Disconnect(50)
	if _, err := connect("c-bob", "bob", "b-pw"); err == nil {
		t.Fatal("bob connected before being configured")
	}

	write(fmt.Sprintf(`{username: alice, password_hash: %q}, {username: bob, password_hash: %q}`, hash("a-pw"), hash("b-pw")))
	if err := b.Reload(); err != nil {
		t.Fatalf("good reload refused: %v", err)
	}
	bob, err := connect("c-bob", "bob", "b-pw")
	if err != nil {
		t.Fatalf("bob after reload: %v", err)
	}
	bob.Disconnect(50)
	if !alice.IsConnectionOpen() {
		t.Fatal("alice's connection dropped by the reload")
	}

	write(`{username: carol, password_hash: "not-a-bcrypt-hash"}`)
	if err := b.Reload(); err == nil {
		t.Fatal("bad reload accepted")
	}
	if bob, err = connect("c-bob2", "bob", "b-pw"); err != nil {
		t.Fatalf("bob after a refused reload: %v (the old config should be kept)", err)
	}
	bob.Disconnect(50)
}

// TestReloadAdminTokens: SIGHUP's Reload applies admin.tokens: with none the
// API answers loopback clients; after a reload that adds a token it wants it.
func TestReloadAdminTokens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write := func(tokens string) {
		body := fmt.Sprintf(`
admin: {address: "127.0.0.1:0", tokens: [%s]}
kafka: {bootstrap_servers: ["127.0.0.1:1"]}
mqtt:
  data_dir: ""
  listeners: {tcp: {address: "127.0.0.1:0"}, ws: {enabled: false}}
  auth: {allow_anonymous: true}
`, tokens)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	b := runFromFile(t, path)
	testkit.WaitFor(t, 5*time.Second, "the admin listener", func() bool { return b.AdminAddr() != "" })
	base := "http://" + b.AdminAddr()
	get := func(token string) int {
		t.Helper()
		return testkit.Call(t, "GET", base+"/api/v1/overview", nil, nil, func(r *http.Request) {
			if token != "" {
				r.Header.Set("Authorization", "Bearer "+token)
			}
		})
	}
	if code := get(""); code != http.StatusOK {
		t.Fatalf("before reload, no tokens configured: GET from loopback = %d; want 200", code)
	}
	sum := sha256.Sum256([]byte("s3cret"))
	write(fmt.Sprintf(`{name: ci, token_sha256: %q}`, hex.EncodeToString(sum[:])))
	if err := b.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Errorf("after reload with a token: GET without it = %d; want 401", code)
	}
	if code := get("wrong"); code != http.StatusUnauthorized {
		t.Errorf("after reload: GET with a wrong token = %d; want 401", code)
	}
	if code := get("s3cret"); code != http.StatusOK {
		t.Errorf("after reload: GET with the token = %d; want 200", code)
	}
}

// runFromFile loads the configuration file at path and runs a bridge from
// it (ConfigPath set, so Reload re-reads it) until the test ends.
func runFromFile(t *testing.T, path string) *Bridge {
	t.Helper()
	cfg, err := Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg, Options{Logger: zaptest.NewLogger(t), ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunBridge(t, b)
	return b
}

// TestReloadAllowedHosts: a reload applies admin.allowed_hosts.
func TestReloadAllowedHosts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write := func(hosts string) {
		body := fmt.Sprintf(`
admin: {address: "127.0.0.1:0", allowed_hosts: [%s]}
kafka: {bootstrap_servers: ["127.0.0.1:1"]}
mqtt:
  data_dir: ""
  listeners: {tcp: {address: "127.0.0.1:0"}, ws: {enabled: false}}
  auth: {allow_anonymous: true}
`, hosts)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	b := runFromFile(t, path)
	testkit.WaitFor(t, 5*time.Second, "the admin listener", func() bool { return b.AdminAddr() != "" })
	get := testkit.Request{Method: "GET", Path: "/api/v1/overview", Host: "bridge.example:8080"}
	if code, _, _ := get.Do(t, "http://"+b.AdminAddr()); code != http.StatusMisdirectedRequest {
		t.Fatalf("before reload: GET with Host bridge.example = %d; want 421", code)
	}
	write("bridge.example")
	if err := b.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if code, msg, _ := get.Do(t, "http://"+b.AdminAddr()); code != http.StatusOK {
		t.Errorf("after reload with allowed_hosts [bridge.example]: GET = %d %q; want 200", code, msg)
	}
}

// TestReloadACLDelivery: a reload that denies a topic applies to the next
// delivery on a subscription granted before it; the front end's cached
// "allowed" decision does not survive the reload.
func TestReloadACLDelivery(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write := func(denied string) {
		body := fmt.Sprintf(`
admin: {address: ""}
kafka: {bootstrap_servers: ["127.0.0.1:1"]}
mqtt:
  data_dir: ""
  listeners: {tcp: {address: "127.0.0.1:0"}, ws: {enabled: false}}
  auth:
    allow_anonymous: true
    acl:
      no_match: allow
      rules: [{permission: deny, action: all, client_id: watch, topics: [%q]}]
`, denied)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("nothing/#")
	b := runFromFile(t, path)
	got := make(chan string, 16)
	watch := testkit.ConnectV3(t, b.Front().Addr("tcp").String(), "watch")
	if tok := watch.Subscribe("#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() + " " + string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := testkit.ConnectV3(t, b.Front().Addr("tcp").String(), "pub")
	publish := func(topic, payload string) {
		t.Helper()
		if tok := pub.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	next := func() string {
		t.Helper()
		select {
		case m := <-got:
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("no message within 5s")
			return ""
		}
	}
	publish("secret/a", "1")
	if m := next(); m != "secret/a 1" {
		t.Fatalf("before the reload watch received %q; want \"secret/a 1\"", m)
	}

	write("secret/#")
	if err := b.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	publish("secret/a", "2")
	publish("public/a", "2")
	if m := next(); m != "public/a 2" {
		t.Fatalf("after the reload watch received %q; want \"public/a 2\" (secret/# is now denied to it)", m)
	}
}

// TestReloadWarnsKafkaSecurityNeedsRestart: a SIGHUP that changes
// kafka.sasl says that it applies after a restart, and the warning holds
// no secret.
func TestReloadWarnsKafkaSecurityNeedsRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write := func(password string) {
		body := fmt.Sprintf(`
admin: {address: ""}
kafka:
  bootstrap_servers: ["127.0.0.1:1"]
  spool: {enabled: false}
  sasl: {mechanism: SCRAM-SHA-256, username: bridge, password: %q}
mqtt:
  data_dir: ""
  listeners: {tcp: {address: "127.0.0.1:0"}, ws: {enabled: false}}
  auth: {allow_anonymous: true}
`, password)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first-secret")
	cfg, err := Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	b, err := New(cfg, Options{Logger: zap.New(core), ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunBridge(t, b)
	write("second-secret")
	if err := b.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if n := logs.FilterMessageSnippet("kafka.tls or kafka.sasl changed").Len(); n != 1 {
		t.Errorf("%d warnings that kafka.sasl needs a restart; want 1", n)
	}
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, "secret") {
			t.Errorf("a log line holds the password: %s", line)
		}
	}
}
