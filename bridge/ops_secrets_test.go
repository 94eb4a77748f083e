package bridge

import (
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
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

// TestOpsNoSecretsInLogs runs a bridge with Kafka SASL credentials and bcrypt
// users, logging at debug level into an observer; devices connect with a
// wrong and a right password, publish, a good and a refused reload happen.
// No log entry, message or field (nested objects included, as the JSON
// encoder writes them), may contain the SASL password, a device password or
// a password hash.
func TestOpsNoSecretsInLogs(t *testing.T) {
	const (
		saslPassword  = "sasl-S3cret-7f3a9c"
		alicePassword = "alice-Pw-5d81e2"
		wrongPassword = "wrong-Pw-c4b07a"
	)
	hashBytes, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash := string(hashBytes)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write := func(extraUser string) {
		body := fmt.Sprintf(`
log: {level: debug}
admin: {address: "127.0.0.1:0"}
kafka:
  bootstrap_servers: ["127.0.0.1:1"]
  sasl: {mechanism: PLAIN, username: bridge, password: %q}
  spool: {enabled: true, dir: %q}
mqtt:
  data_dir: %q
  listeners: {tcp: {address: "127.0.0.1:0"}}
  auth:
    allow_anonymous: false
    users: [{username: alice, password_hash: %q}%s]
mapping:
  uplink: [{name: telemetry, mqtt_topic: "devices/{device}/telemetry", kafka_topic: iot.telemetry, key: "{device}"}]
`, saslPassword, filepath.Join(dir, "spool"), filepath.Join(dir, "mqtt"), hash, extraUser)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cfg, err := Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	core, logs := observer.New(zap.DebugLevel)
	b, err := New(cfg, Options{Logger: zap.New(core), ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.RunBridge(t, b)
	addr := "tcp://" + b.Front().Addr("tcp").String()
	connect := func(id, user, pw string) (mqtt.Client, error) {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(addr).SetClientID(id).
			SetUsername(user).SetPassword(pw).SetAutoReconnect(false).SetConnectRetry(false))
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			return nil, fmt.Errorf("connect timed out")
		}
		return c, tok.Error()
	}

	if _, err := connect("dev-wrong", "alice", wrongPassword); err == nil {
		t.Fatal("connect with a wrong password succeeded")
	}
	testkit.WaitFor(t, 5*time.Second, "the refusal's log line", func() bool { return logs.FilterMessage("mqtt: connect refused").Len() > 0 })
	if _, err := connect("dev-nouser", "mallory", wrongPassword); err == nil {
		t.Fatal("connect as an unknown user succeeded")
	}
	alice, err := connect("dev-alice", "alice", alicePassword)
	if err != nil {
		t.Fatalf("alice: %v", err)
	}
	alice.Publish("devices/d1/telemetry", 0, false, "21.5").WaitTimeout(5 * time.Second)

	// A good reload (a second user), then a refused one (a malformed hash
	// that is still secret-looking: the tail of alice's hash).
	write(fmt.Sprintf(`, {username: bob, password_hash: %q}`, hash))
	if err := b.Reload(); err != nil {
		t.Fatalf("good reload refused: %v", err)
	}
	write(fmt.Sprintf(`, {username: carol, password_hash: %q}`, "$2x$"+hash[4:]))
	if err := b.Reload(); err == nil {
		t.Fatal("reload with a malformed hash applied")
	} else {
		// Reload returns its refusal; its caller logs it (main, on SIGHUP).
		zap.New(core).Error("reload refused; the running configuration is kept", ErrField(err))
	}
	if !alice.IsConnectionOpen() {
		t.Error("alice's connection dropped by the reloads")
	}

	// Scrape the admin endpoints too: handlers log nothing secret either.
	testkit.WaitFor(t, 5*time.Second, "the admin listener", func() bool { return b.AdminAddr() != "" })
	for _, p := range []string{"/metrics", "/readyz", "/healthz"} {
		if resp, err := http.Get("http://" + b.AdminAddr() + p); err == nil {
			resp.Body.Close()
		}
	}
	alice.Disconnect(50)
	stop()

	secrets := map[string]string{
		"SASL password":            saslPassword,
		"device password":          alicePassword,
		"wrong device password":    wrongPassword,
		"password hash":            hash,
		"password hash salt+value": hash[7:], // without "$2a$04$"
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	entries := logs.All()
	if len(entries) == 0 {
		t.Fatal("no log entries observed")
	}
	for _, e := range entries {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatalf("encode %q: %v", e.Message, err)
		}
		line := buf.String()
		buf.Free()
		for what, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log entry contains the %s: %s", what, line)
			}
		}
	}
	for _, want := range []string{"mqtt: connect refused", "configuration reloaded", "reload refused; the running configuration is kept"} {
		if logs.FilterMessage(want).Len() == 0 {
			t.Errorf("no %q entry observed; the test did not exercise that path", want)
		}
	}
	t.Logf("%d log entries checked", len(entries))
}
