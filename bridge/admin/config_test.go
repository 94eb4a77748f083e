package admin

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestAdminConfigValidate(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	okAdmin := DefaultConfig() // the timeouts and header limit are required
	okAdmin.Users, okAdmin.Tokens, okAdmin.PublishAllow = []User{{"a", string(hash)}}, []Token{{"t", strings.Repeat("ab", 32)}}, []string{"devices/#"}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", okAdmin, ""},
		{"no username", Config{Users: []User{{"", string(hash)}}}, "admin.users[0].username"},
		{"duplicate", Config{Users: []User{{"a", string(hash)}, {"a", string(hash)}}}, "admin.users[1].username"},
		{"plain password", Config{Users: []User{{"a", "secret"}}}, "admin.users[0].password_hash"},
		{"short token hash", Config{Tokens: []Token{{"t", "abcd"}}}, "admin.tokens[0].token_sha256"},
		{"token without name", Config{Tokens: []Token{{"", strings.Repeat("ab", 32)}}}, "admin.tokens[0].name"},
		{"bad filter", Config{PublishAllow: []string{"a/#/b"}}, "admin.publish_allow[0]"},
		{"sys filter", Config{PublishAllow: []string{"$SYS/#"}}, "admin.publish_allow[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v; want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestAdminGuardConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"hosts ok", func(c *Config) {
			c.AllowedHosts = []string{"bridge", "*.svc.cluster.local", "*", "10.0.0.5", "[::1]"}
		}, ""},
		{"origins ok", func(c *Config) {
			c.AllowedOrigins = []string{"https://ops.example.com", "http://localhost:3000/", "*"}
		}, ""},
		{"host with port", func(c *Config) { c.AllowedHosts = []string{"bridge:8080"} }, "admin.allowed_hosts[0]"},
		{"host with scheme", func(c *Config) { c.AllowedHosts = []string{"ok", "http://bridge"} }, "admin.allowed_hosts[1]"},
		{"empty host", func(c *Config) { c.AllowedHosts = []string{""} }, "admin.allowed_hosts[0]"},
		{"inner wildcard", func(c *Config) { c.AllowedHosts = []string{"a.*.com"} }, "admin.allowed_hosts[0]"},
		{"origin without scheme", func(c *Config) { c.AllowedOrigins = []string{"ops.example.com"} }, "admin.allowed_origins[0]"},
		{"origin with path", func(c *Config) { c.AllowedOrigins = []string{"https://ops.example.com/app"} }, "admin.allowed_origins[0]"},
		{"origin ftp", func(c *Config) { c.AllowedOrigins = []string{"ftp://ops.example.com"} }, "admin.allowed_origins[0]"},
		{"zero idle", func(c *Config) { c.IdleTimeout = 0 }, "admin.idle_timeout"},
		{"negative write", func(c *Config) { c.WriteTimeout = -time.Second }, "admin.write_timeout"},
		{"header longer than read", func(c *Config) { c.ReadHeaderTimeout = time.Minute }, "admin.read_header_timeout"},
		{"tiny headers", func(c *Config) { c.MaxHeaderBytes = 100 }, "admin.max_header_bytes"},
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
