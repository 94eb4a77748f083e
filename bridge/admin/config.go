package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// Config is the admin section (admin.*) of the bridge configuration: the
// HTTP listener for metrics, health, the admin API under /api/v1 and the
// dashboard at / (see api.go).
type Config struct {
	// Address to listen on. Default ":8080"; "" disables the listener.
	Address string `koanf:"address"`
	// Users may use the API and dashboard with HTTP Basic auth. With no
	// users and no tokens, the API and dashboard answer loopback clients
	// only (403 otherwise). /metrics, /healthz and /readyz stay open.
	Users []User `koanf:"users"`
	// Tokens are bearer tokens (Authorization: Bearer <token>), configured
	// as the SHA-256 hex of the token so the file holds no secret.
	Tokens []Token `koanf:"tokens"`
	// PublishAllow are the MQTT topic filters POST /api/v1/publish may
	// publish to. Default [] (the publish API is off: every publish gets
	// 403). $-topics are never published to. Grant the least that works,
	// e.g. ["devices/+/commands"].
	PublishAllow []string `koanf:"publish_allow"`
	// PublishRetain lets POST /api/v1/publish set retain. Default false: a
	// retained command stays on the broker and is delivered to every device
	// that subscribes later, so it needs its own opt-in.
	PublishRetain bool `koanf:"publish_retain"`
	// Pprof serves Go's runtime profiles under /debug/pprof/ (CPU, heap,
	// goroutines, mutex and block contention), behind the same auth as the
	// API. Default false. Mutex and block profiles sample only while
	// enabled.
	Pprof bool `koanf:"pprof"`
	// AllowedHosts are host names (no port) the API and dashboard answer
	// to, besides those always allowed: IP literals, localhost and the
	// machine's hostname. Any other Host header gets 421 (DNS rebinding).
	// "*.example.com" allows its subdomains; "*" turns the check off.
	// /metrics, /healthz and /readyz are not checked. Default []. In
	// Kubernetes list the Service names you browse to, e.g.
	// ["mqtt-kafka-bridge-metrics", "mqtt-kafka-bridge-metrics.iot.svc"],
	// or the ingress host.
	AllowedHosts []string `koanf:"allowed_hosts"`
	// AllowedOrigins are web origins (scheme://host[:port]) whose pages may
	// call the API from the browser, besides the dashboard's own origin.
	// A request with another Origin gets 403 (CSRF). "*" allows any.
	// Default [].
	AllowedOrigins []string `koanf:"allowed_origins"`
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	// (Go http.Server ReadHeaderTimeout.)
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included. Default
	// 30s.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// WriteTimeout bounds a request from the end of its headers to the
	// end of its answer. It also caps /debug/pprof profiles and traces:
	// pprof refuses a ?seconds= at or beyond it. Default 60s.
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// IdleTimeout closes a keep-alive connection with no request for this
	// long. Default 60s. (nginx keepalive_timeout.)
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// MaxHeaderBytes bounds a request's header block, in bytes (431
	// beyond). Default 65536. (Go http.Server MaxHeaderBytes; nginx
	// large_client_header_buffers.)
	MaxHeaderBytes int `koanf:"max_header_bytes"`
}

// DefaultConfig is the admin section's built-in configuration: a listener
// on :8080, no users or tokens (loopback only), the publish API off.
func DefaultConfig() Config {
	return Config{Address: ":8080", PublishAllow: []string{}, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10}
}

// Validate checks the admin section; messages name the key at fault.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, u := range c.Users {
		switch {
		case u.Username == "":
			errs = append(errs, fmt.Errorf("admin.users[%d].username: empty", i))
		case seen[u.Username]:
			errs = append(errs, fmt.Errorf("admin.users[%d].username: %q appears twice", i, u.Username))
		}
		seen[u.Username] = true
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			errs = append(errs, fmt.Errorf("admin.users[%d].password_hash: not a bcrypt hash", i))
		}
	}
	for i, t := range c.Tokens {
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("admin.tokens[%d].name: empty", i))
		}
		if b, err := hex.DecodeString(t.TokenSHA256); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("admin.tokens[%d].token_sha256: want 64 hex digits (the SHA-256 of the token)", i))
		}
	}
	for i, f := range c.PublishAllow {
		if err := mqttfront.ValidTopicFilter(f); err != nil {
			errs = append(errs, fmt.Errorf("admin.publish_allow[%d]: %q: %w", i, f, err))
		} else if strings.HasPrefix(f, "$") {
			errs = append(errs, fmt.Errorf("admin.publish_allow[%d]: %q: $-topics belong to the broker", i, f))
		}
	}
	for i, h := range c.AllowedHosts {
		if err := validAllowedHost(h); err != nil {
			errs = append(errs, fmt.Errorf("admin.allowed_hosts[%d]: %q: %w", i, h, err))
		}
	}
	for i, o := range c.AllowedOrigins {
		if err := validOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("admin.allowed_origins[%d]: %q: %w", i, o, err))
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"read_header_timeout", c.ReadHeaderTimeout}, {"read_timeout", c.ReadTimeout}, {"write_timeout", c.WriteTimeout}, {"idle_timeout", c.IdleTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("admin.%s: must be > 0, got %s", d.key, d.v))
		}
	}
	if c.ReadHeaderTimeout > c.ReadTimeout {
		errs = append(errs, fmt.Errorf("admin.read_header_timeout: %s is longer than admin.read_timeout %s, which also covers the headers", c.ReadHeaderTimeout, c.ReadTimeout))
	}
	if c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("admin.max_header_bytes: must be between 1024 and 1048576 bytes, got %d", c.MaxHeaderBytes))
	}
	return errors.Join(errs...)
}

// validAllowedHost accepts "*", a host name, "*." + a host name, or an IP
// literal (always allowed anyway); never a port, scheme or path.
func validAllowedHost(h string) error {
	if h == "*" || net.ParseIP(strings.Trim(h, "[]")) != nil {
		return nil
	}
	name := strings.TrimPrefix(h, "*.")
	switch {
	case name == "":
		return errors.New("empty")
	case strings.ContainsAny(name, ":/ *@"):
		return errors.New(`want a host name without port, scheme or path ("bridge.example.com", "*.svc.cluster.local" or "*")`)
	}
	return nil
}

// validOrigin accepts "*" or scheme://host[:port] with scheme http or https.
func validOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return errors.New(`want scheme://host[:port], e.g. "https://ops.example.com", or "*"`)
	}
	return nil
}
