package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPrecedence(t *testing.T) {
	path := writeConfig(t, `
kafka:
  bootstrap_servers: ["file:9092"]
  client_id: from-file
mqtt:
  connect_timeout: 3s
  max_inflight: 7
`)
	tests := []struct {
		name      string
		env, set  []string
		wantBoot  string
		wantID    string
		wantInfl  int
		wantConnT time.Duration
	}{
		{"file only", nil, nil, "file:9092", "from-file", 7, 3 * time.Second},
		{"env beats file", []string{"BRIDGE_KAFKA_BOOTSTRAP_SERVERS=env1:9092,env2:9092", "BRIDGE_MQTT_MAX_INFLIGHT=9"}, nil, "env1:9092,env2:9092", "from-file", 9, 3 * time.Second},
		{"flag beats env", []string{"BRIDGE_KAFKA_CLIENT_ID=env"}, []string{"kafka.client_id=flag", "mqtt.connect_timeout=1m"}, "file:9092", "flag", 7, time.Minute},
		{"unrelated env ignored", []string{"HOME=/root", "KAFKA_X=1"}, nil, "file:9092", "from-file", 7, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(path, tt.env, tt.set)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := strings.Join(cfg.Kafka.BootstrapServers, ","); got != tt.wantBoot {
				t.Errorf("bootstrap_servers = %q; want %q", got, tt.wantBoot)
			}
			if cfg.Kafka.ClientID != tt.wantID {
				t.Errorf("client_id = %q; want %q", cfg.Kafka.ClientID, tt.wantID)
			}
			if cfg.MQTT.MaxInflight != tt.wantInfl {
				t.Errorf("max_inflight = %d; want %d", cfg.MQTT.MaxInflight, tt.wantInfl)
			}
			if cfg.MQTT.ConnectTimeout != tt.wantConnT {
				t.Errorf("connect_timeout = %s; want %s", cfg.MQTT.ConnectTimeout, tt.wantConnT)
			}
			// Keys the file does not name keep their defaults.
			if cfg.Kafka.Producer.Acks != "all" {
				t.Errorf("acks = %q; want the default all", cfg.Kafka.Producer.Acks)
			}
		})
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		set  []string
		want string
	}{
		{"unknown key in file", "mqtt:\n  listners: {}\n", nil, nil, "listners"},
		{"bad duration", "mqtt:\n  connect_timeout: soon\n", nil, nil, "connect_timeout"},
		{"unknown env", "", []string{"BRIDGE_KAFKA_BOOTSTRAP=x"}, nil, "BRIDGE_KAFKA_BOOTSTRAP"},
		{"unknown --set", "", nil, []string{"kafka.nope=1"}, "kafka.nope"},
		{"malformed --set", "", nil, []string{"kafka.client_id"}, "key=value"},
		{"bad int", "mqtt:\n  max_inflight: lots\n", nil, nil, "max_inflight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			_, err := Load(path, tt.env, tt.set)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v; want one naming %q", err, tt.want)
			}
		})
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"packet size", func(c *Config) { c.MQTT.MaxPacketSize = 1 }, "mqtt.max_packet_size"},
		{"idempotence without acks=all", func(c *Config) { c.Kafka.Producer.Acks = "1" }, "kafka.producer"},
		{"spool ack", func(c *Config) {
			c.Mapping.Uplink = append(c.Mapping.Uplink, defaultRule("r1"))
			c.Mapping.Uplink[0].Ack = "spool"
		}, "mapping.uplink[0] (r1).ack: spool needs kafka.spool.enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v; want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestDefaultConfigIsSafe(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	if cfg.MQTT.Auth.AllowAnonymous {
		t.Fatal("built-in default allows anonymous clients; want refused")
	}
}

// TestShippedConfig checks that config.yaml loads without unknown keys,
// validates, and documents every key the bridge has.
func TestShippedConfig(t *testing.T) {
	path := filepath.Join("..", "config.yaml")
	cfg, err := Load(path, nil, nil)
	if err != nil {
		t.Fatalf("Load(config.yaml): %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config.yaml invalid: %v", err)
	}
	if !cfg.MQTT.Auth.AllowAnonymous || cfg.MQTT.Listeners.TCP.Address != ":1883" {
		t.Errorf("config.yaml: want the local-development setup (anonymous on :1883)")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range Keys() {
		leaf := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(raw), leaf+":") {
			t.Errorf("config.yaml does not document %s", key)
		}
	}
}

func TestEnvNamesAreUnambiguous(t *testing.T) {
	seen := map[string]string{}
	for _, k := range Keys() {
		e := envName(k)
		if prev, ok := seen[e]; ok {
			t.Errorf("keys %s and %s share the environment variable %s", prev, k, e)
		}
		seen[e] = k
	}
}

func defaultRule(name string) mapping.UplinkRule {
	return mapping.UplinkRule{Name: name, MQTTTopic: "a/{x}", KafkaTopic: "t", Key: "{x}"}
}

// TestSessionBindingDefault: a config that sets other mqtt.auth keys keeps
// bind_client_id_to_user on; it is off only when written so.
func TestSessionBindingDefault(t *testing.T) {
	on := writeConfig(t, "mqtt:\n  auth:\n    allow_anonymous: true\n")
	off := writeConfig(t, "mqtt:\n  auth:\n    bind_client_id_to_user: false\n")
	for _, tt := range []struct {
		path string
		want bool
	}{{on, true}, {off, false}} {
		cfg, err := Load(tt.path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.MQTT.Auth.BindClientIDToUser; got != tt.want {
			t.Errorf("Load(%s): mqtt.auth.bind_client_id_to_user = %v; want %v", tt.path, got, tt.want)
		}
	}
}
