package admin_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
	"github.com/iotbridge/mqtt-kafka-bridge/bridge/admin"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

const jsonCT = "application/json"

// A page on another site must not change anything through the admin API:
// not with a plain HTML form (enctype=text/plain), not with a no-cors
// fetch, and not with Basic credentials the browser attaches by itself.
func TestAdminCSRF(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pub := `{"topic":"devices/d1/commands","payload":"x"}`
	for _, secured := range []bool{false, true} {
		b, base := apiBridge(t, func(c *bridge.Config) {
			c.Admin.PublishAllow = []string{"devices/#"}
			if secured {
				c.Admin.Users = []admin.User{{Username: "ops", PasswordHash: string(hash)}}
			}
		})
		testkit.ConnectV3(t, b.Front().Addr("tcp").String(), "victim")
		own := "http://" + b.AdminAddr()
		var creds [2]string
		if secured {
			creds = [2]string{"ops", "s3cret"}
		}
		tests := []struct {
			name   string
			rr     testkit.Request
			status int
			want   string // in the JSON error
		}{
			{"form text/plain publish", testkit.Request{Method: "POST", Path: "/api/v1/publish", Body: pub,
				Header: map[string]string{"Content-Type": "text/plain"}}, 415, "Content-Type"},
			{"form urlencoded publish", testkit.Request{Method: "POST", Path: "/api/v1/publish", Body: "topic=x",
				Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "application/json"},
			{"no content type publish", testkit.Request{Method: "POST", Path: "/api/v1/publish", Body: pub}, 415, "Content-Type"},
			{"no content type kick", testkit.Request{Method: "DELETE", Path: "/api/v1/clients/victim"}, 415, "Content-Type"},
			{"no-cors fetch from another site", testkit.Request{Method: "POST", Path: "/api/v1/publish", Body: pub,
				Header: map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}}, 403, "Origin"},
			{"json from another origin", testkit.Request{Method: "POST", Path: "/api/v1/publish", Body: pub,
				Header: map[string]string{"Content-Type": jsonCT, "Origin": "https://evil.example"}}, 403, "admin.allowed_origins"},
			{"json from another port", testkit.Request{Method: "POST", Path: "/api/v1/publish", Body: pub,
				Header: map[string]string{"Content-Type": jsonCT, "Origin": "http://127.0.0.1:1"}}, 403, "Origin"},
			{"null origin", testkit.Request{Method: "DELETE", Path: "/api/v1/clients/victim",
				Header: map[string]string{"Content-Type": jsonCT, "Origin": "null"}}, 403, "Origin"},
			{"cross-site without Origin", testkit.Request{Method: "POST", Path: "/api/v1/publish", Body: pub,
				Header: map[string]string{"Content-Type": jsonCT, "Sec-Fetch-Site": "cross-site"}}, 403, "Sec-Fetch-Site"},
			{"cross-origin read", testkit.Request{Method: "GET", Path: "/api/v1/clients",
				Header: map[string]string{"Origin": "https://evil.example"}}, 403, "Origin"},
			{"same origin publish", testkit.Request{Method: "POST", Path: "/api/v1/publish", Body: pub,
				Header: map[string]string{"Content-Type": jsonCT + "; charset=utf-8", "Origin": own, "Sec-Fetch-Site": "same-origin"}}, 200, ""},
			{"curl publish (no Origin)", testkit.Request{Method: "POST", Path: "/api/v1/publish", Body: pub,
				Header: map[string]string{"Content-Type": jsonCT}}, 200, ""},
			{"same origin kick", testkit.Request{Method: "DELETE", Path: "/api/v1/clients/victim",
				Header: map[string]string{"Content-Type": jsonCT, "Origin": own}}, 200, ""},
		}
		for _, tt := range tests {
			name := tt.name
			if secured {
				name += ", basic auth"
				tt.rr.Basic = creds
			}
			t.Run(name, func(t *testing.T) {
				code, msg, _ := tt.rr.Do(t, base)
				if code != tt.status || !strings.Contains(msg, tt.want) {
					t.Errorf("%s %s = %d %q; want %d with an error naming %q", tt.rr.Method, tt.rr.Path, code, msg, tt.status, tt.want)
				}
			})
		}
	}
}

// admin.allowed_origins admits another site's page (e.g. an operations
// portal), also when the browser says the request is cross-site.
func TestAdminAllowedOrigins(t *testing.T) {
	_, base := apiBridge(t, func(c *bridge.Config) {
		c.Admin.PublishAllow = []string{"devices/#"}
		c.Admin.AllowedOrigins = []string{"https://ops.example.com"}
	})
	pub := `{"topic":"devices/d1/commands","payload":"x"}`
	for _, tt := range []struct {
		origin string
		status int
	}{
		{"https://ops.example.com", 200},
		{"https://OPS.example.com", 200},
		{"http://ops.example.com", 403}, // another scheme is another origin
		{"https://ops.example.com:8443", 403},
		{"https://evil.example", 403},
	} {
		rr := testkit.Request{Method: "POST", Path: "/api/v1/publish", Body: pub,
			Header: map[string]string{"Content-Type": jsonCT, "Origin": tt.origin, "Sec-Fetch-Site": "cross-site"}}
		if code, msg, _ := rr.Do(t, base); code != tt.status {
			t.Errorf("POST publish from %s = %d %q; want %d", tt.origin, code, msg, tt.status)
		}
	}
}

// DNS rebinding: a page on evil.example whose name now resolves to the
// bridge sends Host: evil.example. Only the listener's own names, IP
// literals and admin.allowed_hosts are served; the probes stay open.
func TestAdminHostCheck(t *testing.T) {
	b, base := apiBridge(t, func(c *bridge.Config) { c.Admin.PublishAllow = []string{"devices/#"} })
	testkit.ConnectV3(t, b.Front().Addr("tcp").String(), "victim")
	_, port, _ := net.SplitHostPort(b.AdminAddr())
	hostname, _ := os.Hostname()
	pub := `{"topic":"devices/d1/commands","payload":"x","retain":false}`
	tests := []struct {
		name   string
		rr     testkit.Request
		status int
	}{
		{"rebound list", testkit.Request{Method: "GET", Path: "/api/v1/clients", Host: "evil.example:" + port}, 421},
		{"rebound list, no port", testkit.Request{Method: "GET", Path: "/api/v1/clients", Host: "evil.example"}, 421},
		{"rebound dashboard", testkit.Request{Method: "GET", Path: "/", Host: "evil.example:" + port}, 421},
		{"rebound kick", testkit.Request{Method: "DELETE", Path: "/api/v1/clients/victim", Host: "evil.example:" + port,
			Header: map[string]string{"Content-Type": jsonCT, "Origin": "http://evil.example:" + port}}, 421},
		{"rebound publish", testkit.Request{Method: "POST", Path: "/api/v1/publish", Host: "evil.example:" + port, Body: pub,
			Header: map[string]string{"Content-Type": jsonCT, "Origin": "http://evil.example:" + port}}, 421},
		{"localhost", testkit.Request{Method: "GET", Path: "/api/v1/clients", Host: "localhost:" + port}, 200},
		{"LOCALHOST", testkit.Request{Method: "GET", Path: "/api/v1/clients", Host: "LOCALHOST:" + port}, 200},
		{"IPv4 literal", testkit.Request{Method: "GET", Path: "/api/v1/clients", Host: "127.0.0.1:" + port}, 200},
		{"IPv6 literal", testkit.Request{Method: "GET", Path: "/api/v1/clients", Host: "[::1]:" + port}, 200},
		{"pod IP", testkit.Request{Method: "GET", Path: "/api/v1/clients", Host: "10.1.2.3:8080"}, 200},
		{"hostname", testkit.Request{Method: "GET", Path: "/api/v1/clients", Host: hostname + ":" + port}, 200},
		{"probe /metrics", testkit.Request{Method: "GET", Path: "/metrics", Host: "mqtt-kafka-bridge-metrics.iot.svc:8080"}, 200},
		{"probe /healthz", testkit.Request{Method: "GET", Path: "/healthz", Host: "bridge:8080"}, 200},
		{"probe /readyz", testkit.Request{Method: "GET", Path: "/readyz", Host: "bridge:8080"}, 503}, // Kafka unreachable
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg, _ := tt.rr.Do(t, base)
			if code != tt.status {
				t.Fatalf("%s %s with Host %s = %d %q; want %d", tt.rr.Method, tt.rr.Path, tt.rr.Host, code, msg, tt.status)
			}
			if code == 421 && !strings.Contains(msg, "admin.allowed_hosts") {
				t.Errorf("421 error %q; want it to name admin.allowed_hosts", msg)
			}
		})
	}
	if _, _, ok := b.Front().Client("victim"); !ok {
		t.Error("the client was kicked through a rebound Host")
	}
	if n := metricValue(t, base, `mqtt_bridge_admin_requests_refused_total{reason="host"}`); n != 5 {
		t.Errorf(`admin_requests_refused_total{reason="host"} = %v; want 5`, n)
	}
}

// admin.allowed_hosts adds names (a Kubernetes Service, an ingress host);
// "*.domain" admits its subdomains and "*" turns the check off.
func TestAdminAllowedHosts(t *testing.T) {
	for _, tt := range []struct {
		allowed []string
		host    string
		status  int
	}{
		{[]string{"mqtt-kafka-bridge-metrics.iot.svc"}, "mqtt-kafka-bridge-metrics.iot.svc:8080", 200},
		{[]string{"mqtt-kafka-bridge-metrics.iot.svc"}, "mqtt-kafka-bridge-metrics:8080", 421},
		{[]string{"*.svc.cluster.local"}, "mqtt-kafka-bridge-0.mqtt-kafka-bridge.iot.svc.cluster.local:8080", 200},
		{[]string{"*.svc.cluster.local"}, "svc.cluster.local.evil.example", 421},
		{[]string{"*"}, "evil.example", 200},
	} {
		_, base := apiBridge(t, func(c *bridge.Config) { c.Admin.AllowedHosts = tt.allowed })
		rr := testkit.Request{Method: "GET", Path: "/api/v1/overview", Host: tt.host}
		if code, msg, _ := rr.Do(t, base); code != tt.status {
			t.Errorf("allowed_hosts %q: GET with Host %s = %d %q; want %d", tt.allowed, tt.host, code, msg, tt.status)
		}
	}
}

// Every answer of the admin listener forbids framing and MIME sniffing.
func TestAdminSecurityHeaders(t *testing.T) {
	_, base := apiBridge(t, nil)
	for _, rr := range []testkit.Request{
		{Method: "GET", Path: "/"},
		{Method: "GET", Path: "/app.js"},
		{Method: "GET", Path: "/api/v1/overview"},
		{Method: "GET", Path: "/api/v1/nope"},
		{Method: "GET", Path: "/metrics"},
		{Method: "GET", Path: "/healthz"},
		{Method: "POST", Path: "/api/v1/publish"}, // refused (415): headers too
		{Method: "GET", Path: "/", Host: "evil.example"},
	} {
		_, _, h := rr.Do(t, base)
		if got := h.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s %s (Host %q): X-Frame-Options = %q; want DENY", rr.Method, rr.Path, rr.Host, got)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (Host %q): X-Content-Type-Options = %q; want nosniff", rr.Method, rr.Path, rr.Host, got)
		}
		if got := h.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") {
			t.Errorf("%s %s (Host %q): Content-Security-Policy = %q; want frame-ancestors 'none'", rr.Method, rr.Path, rr.Host, got)
		}
	}
}

// metricValue scrapes /metrics and returns the sample named exactly by
// series (name{labels}), 0 when absent.
func metricValue(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			var f float64
			if err := json.Unmarshal([]byte(val), &f); err != nil {
				t.Fatalf("metric %s value %q: %v", series, val, err)
			}
			return f
		}
	}
	return 0
}
