package mqttfront

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v; want nil", err)
	}
	if c.Auth.AllowAnonymous {
		t.Errorf("default allows anonymous clients; want safe defaults")
	}
	if !c.Listeners.TCP.Enabled || c.Listeners.TLS.Enabled || c.Listeners.WS.Enabled || c.Listeners.WSS.Enabled {
		t.Errorf("default listeners %+v; want only tcp", c.Listeners)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no listener", func(c *Config) { c.Listeners.TCP.Enabled = false }, "mqtt.listeners: no listener"},
		{"tls without cert", func(c *Config) { c.Listeners.TLS.Enabled = true }, "mqtt.listeners.tls.cert_file"},
		{"ws bad path", func(c *Config) { c.Listeners.WS.Enabled, c.Listeners.WS.Path = true, "mqtt" }, "mqtt.listeners.ws.path"},
		{"client cert without CA", func(c *Config) {
			c.Listeners.TLS = ListenerConfig{Enabled: true, Address: ":1", CertFile: "c", KeyFile: "k", RequireClientCert: true}
		}, "mqtt.listeners.tls.require_client_cert"},
		{"packet size", func(c *Config) { c.MaxPacketSize = 10 }, "mqtt.max_packet_size"},
		{"connect size", func(c *Config) { c.MaxConnectSize = 10 }, "mqtt.max_connect_size"},
		{"receive maximum", func(c *Config) { c.ReceiveMaximum = 0 }, "mqtt.receive_maximum"},
		{"inflight", func(c *Config) { c.MaxInflight = 70000 }, "mqtt.max_inflight"},
		{"queued", func(c *Config) { c.MaxQueuedMessages = 0 }, "mqtt.max_queued_messages"},
		{"connect timeout", func(c *Config) { c.ConnectTimeout = 0 }, "mqtt.connect_timeout"},
		{"read timeout", func(c *Config) { c.ReadTimeout = 0 }, "mqtt.read_timeout"},
		{"keepalive", func(c *Config) { c.MaxKeepAlive = 70000 }, "mqtt.max_keepalive"},
		{"alias", func(c *Config) { c.TopicAliasMaximum = -1 }, "mqtt.topic_alias_maximum"},
		{"levels", func(c *Config) { c.MaxTopicLevels = 0 }, "mqtt.max_topic_levels"},
		{"sys", func(c *Config) { c.SysInterval = -time.Second }, "mqtt.sys_interval"},
		{"rate", func(c *Config) { c.MaxPublishRate = -1 }, "mqtt.max_publish_rate"},
		{"session queue bytes", func(c *Config) { c.MaxSessionQueueBytes = -1 }, "mqtt.max_session_queue_bytes"},
		{"sessions", func(c *Config) { c.MaxSessions = -1 }, "mqtt.max_sessions"},
		{"subscriptions", func(c *Config) { c.MaxSubscriptions = -1 }, "mqtt.max_subscriptions"},
		{"retained bytes negative", func(c *Config) { c.MaxRetainedBytes = -1 }, "mqtt.max_retained_bytes"},
		{"retained bytes below packet size", func(c *Config) { c.MaxRetainedBytes = 1000 }, "mqtt.max_retained_bytes"},
		{"acl cache entries", func(c *Config) { c.ACLCacheMaxEntries = -1 }, "mqtt.acl_cache_max_entries"},
		{"acl cache bytes", func(c *Config) { c.ACLCacheMaxBytes = -1 }, "mqtt.acl_cache_max_bytes"},
		{"bcrypt slots", func(c *Config) { c.Auth.BcryptConcurrency = -1 }, "mqtt.auth.bcrypt_concurrency"},
		{"backoff window", func(c *Config) { c.Auth.FailureBackoff.Window = 0 }, "mqtt.auth.failure_backoff.window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v; want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestNewRejectsInvalid(t *testing.T) {
	c := DefaultConfig()
	c.MaxInflight = 0
	if _, err := New(c, &fakeSink{}, nil); err == nil {
		t.Fatal("New accepted an invalid config")
	}
	if _, err := New(DefaultConfig(), nil, nil); err == nil {
		t.Fatal("New accepted a nil sink")
	}
}
