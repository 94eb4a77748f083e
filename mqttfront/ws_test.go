package mqttfront

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWSAllowedOriginsValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid
	}{
		{"ws list", func(c *Config) {
			c.Listeners.WS.Enabled, c.Listeners.WS.AllowedOrigins = true, []string{"https://app.example.com", "http://localhost:3000/", "*"}
		}, ""},
		{"wss bad origin", func(c *Config) {
			c.Listeners.WSS = ListenerConfig{Enabled: true, Address: ":1", Path: "/mqtt", CertFile: "c", KeyFile: "k", AllowedOrigins: []string{"ok.example"}}
		}, "mqtt.listeners.wss.allowed_origins[0]"},
		{"origin with path", func(c *Config) {
			c.Listeners.WS.Enabled, c.Listeners.WS.AllowedOrigins = true, []string{"*", "https://app.example.com/page"}
		}, "mqtt.listeners.ws.allowed_origins[1]"},
		{"tcp has no origin", func(c *Config) { c.Listeners.TCP.AllowedOrigins = []string{"*"} }, "mqtt.listeners.tcp.allowed_origins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v; want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestWSOriginList(t *testing.T) {
	tests := []struct {
		list   []string
		host   string
		origin string
		want   bool
	}{
		{nil, "broker:8083", "", true},
		{nil, "broker:8083", "http://broker:8083", true},
		{nil, "broker:8083", "https://BROKER:8083", true},
		{nil, "broker:8083", "http://broker", false},
		{nil, "broker:8083", "null", false},
		{nil, "broker:8083", "http://evil.example", false},
		{[]string{"https://app.example.com/"}, "broker:8083", "https://app.example.com", true},
		{[]string{"https://app.example.com"}, "broker:8083", "https://app.example.com:444", false},
		{[]string{"*"}, "broker:8083", "null", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/mqtt", nil)
		r.Host = tt.host
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := newOriginList(tt.list).allowed(r); got != tt.want {
			t.Errorf("origins %q, Host %s: allowed(Origin %q) = %v; want %v", tt.list, tt.host, tt.origin, got, tt.want)
		}
	}
}
