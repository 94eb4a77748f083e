package bridge

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap/zaptest"
)

// Helpers for the tests here that run a bridge with its admin listener
// (the admin API's own tests are in admin/).

// apiBridge runs a bridge (Kafka unreachable) with the admin listener on
// loopback and returns it with the API's base URL.
func apiBridge(t *testing.T, mutate func(*Config)) (*Bridge, string) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MQTT.Listeners.TCP.Address = "127.0.0.1:0"
	cfg.MQTT.Auth.AllowAnonymous = true
	cfg.MQTT.DataDir = t.TempDir()
	cfg.MQTT.MaxPacketSize = 64 << 10
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.Kafka.BootstrapServers = []string{"127.0.0.1:1"}
	cfg.Mapping = telemetryMapping("")
	if mutate != nil {
		mutate(&cfg)
	}
	b, err := New(cfg, Options{Logger: zaptest.NewLogger(t), Version: "test-1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	runBridge(t, b)
	waitFor(t, 5*time.Second, func() bool { return b.AdminAddr() != "" })
	return b, "http://" + b.AdminAddr()
}

// callAuth does one request with auth applied and decodes the JSON answer
// into out (when not nil).
func callAuth(t *testing.T, method, url string, body any, out any, auth func(*http.Request)) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method != http.MethodGet {
		// The admin guard wants JSON on every state-changing request.
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d, body %q is not JSON: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func v3Client(t *testing.T, b *Bridge, id string) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + b.Front().Addr("tcp").String()).SetClientID(id).SetAutoReconnect(false)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// rawRequest is one request as a browser, a form or an attacker's page
// could send it.
type rawRequest struct {
	method, path string
	host         string            // "" = the listener's address
	header       map[string]string // Content-Type, Origin, Sec-Fetch-Site, ...
	body         string
	basic        [2]string // user, password
}

// do sends rr and returns the status and the JSON error message, if any.
func (rr rawRequest) do(t *testing.T, base string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(rr.method, base+rr.path, strings.NewReader(rr.body))
	if err != nil {
		t.Fatal(err)
	}
	if rr.host != "" {
		req.Host = rr.host
	}
	for k, v := range rr.header {
		req.Header.Set(k, v)
	}
	if rr.basic[0] != "" {
		req.SetBasicAuth(rr.basic[0], rr.basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", rr.method, rr.path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error, resp.Header
}
