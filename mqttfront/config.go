package mqttfront

import (
	"errors"
	"fmt"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

// Config configures the broker front end. Every field has a koanf key under
// "mqtt." and a default from DefaultConfig.
type Config struct {
	Listeners ListenersConfig `koanf:"listeners"`
	Auth      auth.Config     `koanf:"auth"`
	// DataDir holds the session/retained store (bbolt file "mqtt.db").
	// "" keeps all state in memory only. Default "". (Mosquitto
	// persistence_location, EMQX node.data_dir.)
	DataDir string `koanf:"data_dir"`

	// MaxConnections refuses (closes at accept) connections beyond this
	// number of open sockets. 0 = unlimited. Default 0. (Mosquitto
	// max_connections, EMQX listeners.tcp.default.max_connections.)
	MaxConnections int `koanf:"max_connections"`
	// ConnectTimeout closes a socket that has not sent a whole CONNECT
	// within this time. Default 10s. (EMQX mqtt.idle_timeout.)
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// MaxPacketSize bounds an inbound packet, fixed header included, in
	// bytes; advertised as Maximum Packet Size in the v5 CONNACK. Default
	// 1 MiB. (EMQX mqtt.max_packet_size, Mosquitto max_packet_size.)
	MaxPacketSize int `koanf:"max_packet_size"`
	// MaxKeepAlive caps the client's keepalive in seconds; a v5 client asking
	// more (or 0) is told Server Keep Alive. Default 65535. (Mosquitto
	// max_keepalive, EMQX mqtt.server_keepalive.)
	MaxKeepAlive int `koanf:"max_keepalive"`
	// ReceiveMaximum is the number of inbound QoS 1/2 publishes a client may
	// have unacknowledged; advertised in the v5 CONNACK and used as the
	// pending-ack ring size for v3 clients (reading pauses when full).
	// Default 128. (EMQX mqtt.max_awaiting_rel is close; Mosquitto
	// max_inflight_messages for inbound.)
	ReceiveMaximum int `koanf:"receive_maximum"`
	// MaxInflight is the outbound window of unacknowledged QoS 1/2
	// deliveries per client; v5 clients get min(their Receive Maximum, this).
	// Default 32. (EMQX mqtt.max_inflight, Mosquitto max_inflight_messages.)
	MaxInflight int `koanf:"max_inflight"`
	// MaxQueuedMessages bounds the messages waiting per session beyond the
	// inflight window (offline or online), and the packets waiting in an
	// online connection's write queue. Overflow drops are counted. Default
	// 1000. (Mosquitto max_queued_messages, EMQX mqtt.max_mqueue_len.)
	MaxQueuedMessages int `koanf:"max_queued_messages"`
	// MaxQueuedBytes bounds the bytes waiting in an online connection's
	// write queue; beyond it QoS 0 deliveries are dropped (slow_consumer).
	// 0 = unlimited. Default 8 MiB. (Mosquitto max_queued_bytes.)
	MaxQueuedBytes int `koanf:"max_queued_bytes"`
	// WriteTimeout disconnects a client whose socket accepts no data for
	// this long (reason slow_consumer). Default 10s. (NATS write_deadline.)
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// MaxSessionExpiry caps every session's expiry; 0 = no cap (v3
	// persistent sessions never expire). Default 0. (Mosquitto
	// persistent_client_expiration, EMQX mqtt.session_expiry_interval.)
	MaxSessionExpiry time.Duration `koanf:"max_session_expiry"`
	// MaxRetained caps the number of retained topics; a retained publish to
	// a new topic beyond it is not retained (counted). Default 100000.
	// (EMQX retainer.max_retained_messages.)
	MaxRetained int `koanf:"max_retained"`
	// TopicAliasMaximum is the inbound topic alias maximum advertised to v5
	// clients; 0 disables aliases. Default 64. (EMQX mqtt.max_topic_alias.)
	TopicAliasMaximum int `koanf:"topic_alias_maximum"`
	// MaxTopicLength bounds topic names and filters in bytes. Default 65535.
	MaxTopicLength int `koanf:"max_topic_length"`
	// MaxTopicLevels bounds the levels of topic names and filters. Default
	// 128. (EMQX mqtt.max_topic_levels.)
	MaxTopicLevels int `koanf:"max_topic_levels"`
	// SysInterval is the period of the $SYS/broker/... retained updates; 0
	// disables them. Default 10s. (Mosquitto sys_interval.)
	SysInterval time.Duration `koanf:"sys_interval"`
	// MaxPublishRate limits inbound PUBLISH packets per second per client
	// (token bucket, burst = one second); reading pauses when exceeded. 0 =
	// off. Default 0. (EMQX listeners.*.messages_rate.)
	MaxPublishRate float64 `koanf:"max_publish_rate"`
	// MaxPublishBytesRate limits inbound PUBLISH bytes per second per client;
	// reading pauses when exceeded. 0 = off. Default 0. (EMQX
	// listeners.*.bytes_rate.)
	MaxPublishBytesRate int `koanf:"max_publish_bytes_rate"`
}

// ListenersConfig lists the four listener kinds.
type ListenersConfig struct {
	TCP ListenerConfig `koanf:"tcp"` // default enabled ":1883"
	TLS ListenerConfig `koanf:"tls"` // default ":8883", enabled only when cert_file and key_file are set
	WS  ListenerConfig `koanf:"ws"`  // default ":8083", path "/mqtt"
	WSS ListenerConfig `koanf:"wss"` // default ":8084", path "/mqtt", needs cert/key
}

// ListenerConfig is one listener.
type ListenerConfig struct {
	Enabled           bool   `koanf:"enabled"`
	Address           string `koanf:"address"`
	CertFile          string `koanf:"cert_file"`
	KeyFile           string `koanf:"key_file"`
	ClientCAFile      string `koanf:"client_ca_file"`      // verify client certs against this CA
	RequireClientCert bool   `koanf:"require_client_cert"` // refuse clients without a verified cert
	Path              string `koanf:"path"`                // WebSocket path
}

// DefaultConfig returns safe defaults: only the plain TCP listener on :1883,
// anonymous clients refused.
func DefaultConfig() Config {
	return Config{
		Listeners: ListenersConfig{
			TCP: ListenerConfig{Enabled: true, Address: ":1883"},
			TLS: ListenerConfig{Address: ":8883"},
			WS:  ListenerConfig{Address: ":8083", Path: "/mqtt"},
			WSS: ListenerConfig{Address: ":8084", Path: "/mqtt"},
		},
		Auth:                auth.DefaultConfig(),
		ConnectTimeout:      10 * time.Second,
		MaxPacketSize:       1 << 20,
		MaxKeepAlive:        65535,
		ReceiveMaximum:      128,
		MaxInflight:         32,
		MaxQueuedMessages:   1000,
		MaxQueuedBytes:      8 << 20,
		WriteTimeout:        10 * time.Second,
		MaxRetained:         100000,
		TopicAliasMaximum:   64,
		MaxTopicLength:      65535,
		MaxTopicLevels:      128,
		SysInterval:         10 * time.Second,
		MaxPublishRate:      0,
		MaxPublishBytesRate: 0,
	}
}

// Validate checks ranges and contradictions; messages name the key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("mqtt.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	check := func(name string, l ListenerConfig, tls, ws bool) {
		if !l.Enabled {
			return
		}
		key := "listeners." + name
		if l.Address == "" {
			bad(key+".address", "must be set when the listener is enabled")
		}
		if tls && (l.CertFile == "" || l.KeyFile == "") {
			bad(key+".cert_file", "cert_file and key_file are required for a TLS listener")
		}
		if !tls && (l.CertFile != "" || l.KeyFile != "") {
			bad(key+".cert_file", "a plain listener takes no certificate; use listeners.tls or listeners.wss")
		}
		if l.RequireClientCert && l.ClientCAFile == "" {
			bad(key+".require_client_cert", "needs client_ca_file")
		}
		if ws && (l.Path == "" || l.Path[0] != '/') {
			bad(key+".path", "must start with '/', got %q", l.Path)
		}
	}
	check("tcp", c.Listeners.TCP, false, false)
	check("tls", c.Listeners.TLS, true, false)
	check("ws", c.Listeners.WS, false, true)
	check("wss", c.Listeners.WSS, true, true)
	if !c.Listeners.TCP.Enabled && !c.Listeners.TLS.Enabled && !c.Listeners.WS.Enabled && !c.Listeners.WSS.Enabled {
		bad("listeners", "no listener is enabled")
	}
	if c.MaxConnections < 0 {
		bad("max_connections", "must be >= 0 (0 = unlimited), got %d", c.MaxConnections)
	}
	if c.ConnectTimeout <= 0 {
		bad("connect_timeout", "must be > 0, got %s", c.ConnectTimeout)
	}
	if c.MaxPacketSize < 64 || c.MaxPacketSize > 268435460 {
		bad("max_packet_size", "must be between 64 and 268435460 bytes, got %d", c.MaxPacketSize)
	}
	if c.MaxKeepAlive < 1 || c.MaxKeepAlive > 65535 {
		bad("max_keepalive", "must be between 1 and 65535 seconds, got %d", c.MaxKeepAlive)
	}
	if c.ReceiveMaximum < 1 || c.ReceiveMaximum > 65535 {
		bad("receive_maximum", "must be between 1 and 65535, got %d", c.ReceiveMaximum)
	}
	if c.MaxInflight < 1 || c.MaxInflight > 65535 {
		bad("max_inflight", "must be between 1 and 65535, got %d", c.MaxInflight)
	}
	if c.MaxQueuedMessages < 1 {
		bad("max_queued_messages", "must be >= 1, got %d", c.MaxQueuedMessages)
	}
	if c.MaxQueuedBytes < 0 {
		bad("max_queued_bytes", "must be >= 0 (0 = unlimited), got %d", c.MaxQueuedBytes)
	}
	if c.WriteTimeout <= 0 {
		bad("write_timeout", "must be > 0, got %s", c.WriteTimeout)
	}
	if c.MaxSessionExpiry < 0 {
		bad("max_session_expiry", "must be >= 0 (0 = no cap), got %s", c.MaxSessionExpiry)
	}
	if c.MaxRetained < 0 {
		bad("max_retained", "must be >= 0, got %d", c.MaxRetained)
	}
	if c.TopicAliasMaximum < 0 || c.TopicAliasMaximum > 65535 {
		bad("topic_alias_maximum", "must be between 0 and 65535, got %d", c.TopicAliasMaximum)
	}
	if c.MaxTopicLength < 1 || c.MaxTopicLength > 65535 {
		bad("max_topic_length", "must be between 1 and 65535, got %d", c.MaxTopicLength)
	}
	if c.MaxTopicLevels < 1 {
		bad("max_topic_levels", "must be >= 1, got %d", c.MaxTopicLevels)
	}
	if c.SysInterval < 0 {
		bad("sys_interval", "must be >= 0 (0 = off), got %s", c.SysInterval)
	}
	if c.MaxPublishRate < 0 {
		bad("max_publish_rate", "must be >= 0 (0 = off), got %g", c.MaxPublishRate)
	}
	if c.MaxPublishBytesRate < 0 {
		bad("max_publish_bytes_rate", "must be >= 0 (0 = off), got %d", c.MaxPublishBytesRate)
	}
	if err := c.Auth.ValidateAt("mqtt.auth"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
