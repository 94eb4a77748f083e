package mqttfront

import (
	"errors"
	"fmt"
	"net/url"
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
	// Store tunes that file.
	Store StoreConfig `koanf:"store"`

	// MaxConnections refuses (closes at accept) connections beyond this
	// number of open sockets. 0 = unlimited. Default 0. (Mosquitto
	// max_connections, EMQX listeners.tcp.default.max_connections.)
	MaxConnections int `koanf:"max_connections"`
	// ConnectTimeout closes a socket that has not sent a whole CONNECT
	// within this time. On the WebSocket listeners it is also the HTTP
	// server's read, write and idle timeout (the handshake and a kept-alive
	// connection that never upgrades). Default 10s. (EMQX
	// mqtt.idle_timeout.)
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// MaxPacketSize bounds an inbound packet, fixed header included, in
	// bytes; advertised as Maximum Packet Size in the v5 CONNACK. Default
	// 1 MiB. (EMQX mqtt.max_packet_size, Mosquitto max_packet_size.)
	MaxPacketSize int `koanf:"max_packet_size"`
	// MaxConnectSize bounds the CONNECT packet, fixed header included, in
	// bytes: the one packet a client sends before it is authenticated. A
	// larger CONNECT closes the socket without CONNACK (packet_too_large).
	// The limit is min(this, max_packet_size). Raise it only for wills
	// larger than about 60 KB. Default 64 KiB. (No Mosquitto/EMQX
	// equivalent: both bound CONNECT by max_packet_size only.)
	MaxConnectSize int `koanf:"max_connect_size"`
	// MaxKeepAlive caps the client's keepalive in seconds. A v5 client
	// asking more, or 0 (none), is told Server Keep Alive = this in CONNACK
	// [MQTT-3.2.2-21]; a v3.1/3.1.1 client cannot be told, so asking more is
	// refused with CONNACK 0x02 (Mosquitto's behaviour), while 0 is accepted.
	// 65535 turns the cap off (v5 0 is then allowed too). Default 1200 (20
	// min): a dead connection is found within 30 min, the longest keepalive
	// that still keeps a mobile NAT binding alive is allowed, and it is AWS
	// IoT Core's maximum. (Mosquitto max_keepalive, default 65535; EMQX
	// mqtt.server_keepalive.)
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
	// MaxSessionQueueBytes bounds the bytes (topic, payload and
	// properties) of the messages waiting in one session's queue beyond the
	// inflight window, offline or online; the same overflow as
	// max_queued_messages (drop, queue_full; Publish gets ErrQueueFull). A
	// message is always accepted into an empty queue, so one message larger
	// than the limit still gets through. 0 = unlimited. Default 16 MiB.
	// (Mosquitto max_queued_bytes; here max_queued_bytes is the write queue.)
	MaxSessionQueueBytes int `koanf:"max_session_queue_bytes"`
	// ReadTimeout bounds the time from the first byte of a packet to its
	// last, whatever the keepalive (even 0): a client that starts a packet
	// and stalls is disconnected (reason read_timeout), so a stalled header
	// cannot hold a connection and its read buffer forever. Idle time
	// between packets is the keepalive's business, not this. It must cover
	// the largest packet (max_packet_size) over the slowest link: 60s
	// carries 1 MiB at 150 kbit/s. Default 60s. (No Mosquitto/EMQX
	// equivalent; the CONNECT is bounded by connect_timeout instead.)
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// WriteTimeout disconnects a client whose socket accepts no data for
	// this long (reason slow_consumer). Default 10s. (NATS write_deadline.)
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// MaxSessionExpiry caps every session's expiry: a 3.1.1 persistent
	// session (clean session 0) expires this long after its client went
	// away, and a v5 client asking for more (or for "never") gets this in
	// its CONNACK. 0 = no cap (3.1.1 persistent sessions never expire).
	// Default 168h (7 days). (Mosquitto persistent_client_expiration, EMQX
	// mqtt.session_expiry_interval, default 2h, for non-v5 clients.)
	MaxSessionExpiry time.Duration `koanf:"max_session_expiry"`
	// MaxSessions caps the sessions held, online and offline persistent
	// ones together. A CONNECT that would create a new session beyond it
	// is refused (v5 CONNACK 0x97, v3 0x03); a client id that has a session
	// may always reconnect. 0 = unlimited. Default 100000. (No direct
	// equivalent; Mosquitto and EMQX max_connections cap connections.)
	MaxSessions int `koanf:"max_sessions"`
	// MaxSubscriptions caps the subscriptions of one client id; a filter
	// beyond it gets SUBACK 0x97 (v5) / 0x80 (v3). Replacing an existing
	// filter is always allowed. 0 = unlimited. Default 1000. (EMQX
	// mqtt.max_subscriptions.)
	MaxSubscriptions int `koanf:"max_subscriptions"`
	// MaxRetained caps the number of retained topics; a retained publish to
	// a new topic beyond it is handled as one beyond max_retained_bytes
	// (counted retained_full). Default 100000.
	// (EMQX retainer.max_retained_messages.)
	MaxRetained int `koanf:"max_retained"`
	// MaxRetainedBytes caps the bytes (topic, payload and properties) of all
	// retained messages together. A retained publish beyond it is not
	// retained: a v5 QoS 1/2 publish is refused as a whole (PUBACK/PUBREC
	// 0x97, not forwarded), a v3 or QoS 0 one is forwarded without being
	// retained, Publish gets ErrRetainedQuota; counted (retained_quota).
	// 0 = unlimited; else at least max_packet_size. Default 256 MiB. (EMQX
	// retainer.max_payload_size bounds one message only.)
	MaxRetainedBytes int64 `koanf:"max_retained_bytes"`
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
	// ACLCacheMaxEntries bounds, per session, the cached ACL decisions of
	// the per-delivery check (one per topic name delivered); beyond it
	// random entries are evicted. 0 disables the cache (every delivery asks
	// the ACL). A reload of the rules empties every cache. Default 64.
	// (EMQX authorization.cache.max_size.)
	ACLCacheMaxEntries int `koanf:"acl_cache_max_entries"`
	// ACLCacheMaxBytes bounds the same cache in bytes: each entry costs its
	// topic name plus 48 bytes; a longer topic is not cached. 0 disables
	// the cache. Default 8192.
	ACLCacheMaxBytes int `koanf:"acl_cache_max_bytes"`
}

// StoreConfig tunes the bbolt file under DataDir (mqttfront/store).
type StoreConfig struct {
	// CompactOnStartFreeRatio: at start, the file is compacted (the live
	// data copied into a new file that replaces it) when at least this
	// fraction of it is free and at least CompactOnStartMinBytes are free.
	// bbolt reuses freed pages but never shrinks its file, so drained
	// offline queues otherwise keep their disk space. Start-up takes the
	// copy's time (about the live data's size written once) and needs that
	// much free disk; on failure the old file is used. 0 = never. Default
	// 0.5. (etcd --experimental-bootstrap-defrag-threshold-megabytes is
	// close; Mosquitto and EMQX have none.)
	CompactOnStartFreeRatio float64 `koanf:"compact_on_start_free_ratio"`
	// CompactOnStartMinBytes is the free space, in bytes, below which start
	// never compacts. 0 = no minimum. Default 64 MiB.
	CompactOnStartMinBytes int64 `koanf:"compact_on_start_min_bytes"`
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
	// AllowedOrigins (ws and wss only) are the web origins
	// (scheme://host[:port]) whose pages may open MQTT over WebSocket,
	// besides the listener's own origin. A handshake without Origin (not a
	// browser) is always allowed; another Origin gets 403. "*" allows any.
	// Default []. (EMQX check_origin_enable + check_origins.)
	AllowedOrigins []string `koanf:"allowed_origins"`
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
		Store:               StoreConfig{CompactOnStartFreeRatio: 0.5, CompactOnStartMinBytes: 64 << 20},
		ConnectTimeout:      10 * time.Second,
		MaxPacketSize:       1 << 20,
		MaxConnectSize:      64 << 10,
		MaxKeepAlive:        1200,
		ReceiveMaximum:      128,
		MaxInflight:         32,
		MaxQueuedMessages:   1000,
		MaxQueuedBytes:      8 << 20,
		ReadTimeout:         60 * time.Second,
		WriteTimeout:        10 * time.Second,
		MaxRetained:         100000,
		TopicAliasMaximum:   64,
		MaxTopicLength:      65535,
		MaxTopicLevels:      128,
		SysInterval:         10 * time.Second,
		MaxPublishRate:      0,
		MaxPublishBytesRate: 0,

		// Resource limits in bytes and counts (README.md, "Limits").
		MaxRetainedBytes:     256 << 20,
		MaxSessionQueueBytes: 16 << 20,
		MaxSessions:          100000,
		MaxSubscriptions:     1000,
		MaxSessionExpiry:     7 * 24 * time.Hour,
		ACLCacheMaxEntries:   64,
		ACLCacheMaxBytes:     8 << 10,
	}
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
		return errors.New(`want scheme://host[:port], e.g. "https://app.example.com", or "*"`)
	}
	return nil
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
		if !ws && len(l.AllowedOrigins) > 0 {
			bad(key+".allowed_origins", "only WebSocket listeners (ws, wss) check Origin")
		}
		for i, o := range l.AllowedOrigins {
			if err := validOrigin(o); err != nil {
				bad(fmt.Sprintf("%s.allowed_origins[%d]", key, i), "%q: %v", o, err)
			}
		}
	}
	check("tcp", c.Listeners.TCP, false, false)
	check("tls", c.Listeners.TLS, true, false)
	check("ws", c.Listeners.WS, false, true)
	check("wss", c.Listeners.WSS, true, true)
	if !c.Listeners.TCP.Enabled && !c.Listeners.TLS.Enabled && !c.Listeners.WS.Enabled && !c.Listeners.WSS.Enabled {
		bad("listeners", "no listener is enabled")
	}
	if r := c.Store.CompactOnStartFreeRatio; r < 0 || r >= 1 || r != r {
		bad("store.compact_on_start_free_ratio", "must be >= 0 and < 1 (0 = never), got %g", r)
	}
	if c.Store.CompactOnStartMinBytes < 0 {
		bad("store.compact_on_start_min_bytes", "must be >= 0 bytes (0 = no minimum), got %d", c.Store.CompactOnStartMinBytes)
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
	if c.MaxConnectSize < 64 || c.MaxConnectSize > 268435460 {
		bad("max_connect_size", "must be between 64 and 268435460 bytes, got %d", c.MaxConnectSize)
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
	if c.MaxSessionQueueBytes < 0 {
		bad("max_session_queue_bytes", "must be >= 0 (0 = unlimited), got %d", c.MaxSessionQueueBytes)
	}
	if c.MaxSessions < 0 {
		bad("max_sessions", "must be >= 0 (0 = unlimited), got %d", c.MaxSessions)
	}
	if c.MaxSubscriptions < 0 {
		bad("max_subscriptions", "must be >= 0 (0 = unlimited), got %d", c.MaxSubscriptions)
	}
	if c.MaxRetainedBytes < 0 || (c.MaxRetainedBytes > 0 && c.MaxRetainedBytes < int64(c.MaxPacketSize)) {
		bad("max_retained_bytes", "must be 0 (unlimited) or at least max_packet_size (%d), got %d", c.MaxPacketSize, c.MaxRetainedBytes)
	}
	if c.ReadTimeout <= 0 {
		bad("read_timeout", "must be > 0, got %s", c.ReadTimeout)
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
	if c.ACLCacheMaxEntries < 0 {
		bad("acl_cache_max_entries", "must be >= 0 (0 = no cache), got %d", c.ACLCacheMaxEntries)
	}
	if c.ACLCacheMaxBytes < 0 {
		bad("acl_cache_max_bytes", "must be >= 0 (0 = no cache), got %d", c.ACLCacheMaxBytes)
	}
	if err := c.Auth.ValidateAt("mqtt.auth"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
