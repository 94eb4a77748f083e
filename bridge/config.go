package bridge

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/iotbridge/mqtt-kafka-bridge/cluster"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// EnvPrefix starts every environment variable the bridge reads, e.g.
// BRIDGE_KAFKA_BOOTSTRAP_SERVERS for the key kafka.bootstrap_servers.
const EnvPrefix = "BRIDGE_"

// Config is the whole bridge configuration: the shipped config.yaml documents
// every key with its default.
type Config struct {
	Log     LogConfig        `koanf:"log"`
	Admin   AdminConfig      `koanf:"admin"`
	MQTT    mqttfront.Config `koanf:"mqtt"`
	Kafka   kafka.Config     `koanf:"kafka"`
	Mapping mapping.Config   `koanf:"mapping"`
	// Cluster is cluster mode (cluster/README.md); off by default.
	Cluster cluster.Config `koanf:"cluster"`
}

// LogConfig selects the zap logger.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `koanf:"level"`
	// Format is json (production, the default) or console (development).
	Format string `koanf:"format"`
}

// AdminConfig is the HTTP admin listener: metrics, health, the admin API
// under /api/v1 and the dashboard at / (see api.go).
type AdminConfig struct {
	// Address to listen on. Default ":8080"; "" disables the listener.
	Address string `koanf:"address"`
	// Users may use the API and dashboard with HTTP Basic auth. With no
	// users and no tokens, the API and dashboard answer loopback clients
	// only (403 otherwise). /metrics, /healthz and /readyz stay open.
	Users []AdminUser `koanf:"users"`
	// Tokens are bearer tokens (Authorization: Bearer <token>), configured
	// as the SHA-256 hex of the token so the file holds no secret.
	Tokens []AdminToken `koanf:"tokens"`
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

// DefaultConfig is the built-in configuration used when no file is given.
// It is safe: anonymous MQTT access is refused.
func DefaultConfig() Config {
	return Config{
		Log: LogConfig{Level: "info", Format: "json"},
		Admin: AdminConfig{Address: ":8080", PublishAllow: []string{}, ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10},
		MQTT:    mqttfront.DefaultConfig(),
		Kafka:   kafka.DefaultConfig(),
		Mapping: mapping.DefaultConfig(),
		Cluster: cluster.DefaultConfig(),
	}
}

// Validate checks every section; the error names the key at fault.
func (c Config) Validate() error {
	var errs []error
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not json or console", c.Log.Format))
	}
	for _, v := range []interface{ Validate() error }{c.Admin, c.MQTT, c.Kafka, c.Mapping, c.Cluster} {
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Cluster.Enabled && c.MQTT.DataDir == "" {
		errs = append(errs, errors.New("cluster.enabled: needs mqtt.data_dir (the cluster cache and inbox offsets live there)"))
	}
	for i, r := range c.Mapping.Uplink {
		if r.Ack == mapping.AckSpool && !c.Kafka.Spool.Enabled {
			errs = append(errs, fmt.Errorf("mapping.uplink[%d] (%s).ack: spool needs kafka.spool.enabled: true", i, r.Name))
		}
	}
	return errors.Join(errs...)
}

// Load builds the configuration from, in increasing precedence: the built-in
// defaults, the YAML file (skipped when path is ""), environment variables
// (BRIDGE_ + the key in upper case with '.' and '_' both written '_'), and
// overrides of the form key=value (the --set flag). Unknown keys, in any
// source, are an error that names them. Load does not call Validate.
func Load(path string, environ, overrides []string) (Config, error) {
	k := koanf.New(".")
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
	}
	keys := configKeys(reflect.TypeOf(Config{}), "")
	byEnv := make(map[string]string, len(keys))
	for _, key := range keys {
		byEnv[envName(key)] = key
	}
	envVals := map[string]any{}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key, known := byEnv[name]
		if !known {
			return Config{}, fmt.Errorf("environment variable %s: no such config key", name)
		}
		envVals[key] = val
	}
	if err := k.Load(confmap.Provider(envVals, "."), nil); err != nil {
		return Config{}, fmt.Errorf("load environment: %w", err)
	}
	setVals := map[string]any{}
	for _, kv := range overrides {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return Config{}, fmt.Errorf("--set %q: want key=value", kv)
		}
		if !knownKey(keys, key) {
			return Config{}, fmt.Errorf("--set %s: no such config key", key)
		}
		setVals[key] = val
	}
	if err := k.Load(confmap.Provider(setVals, "."), nil); err != nil {
		return Config{}, fmt.Errorf("load --set: %w", err)
	}

	for _, key := range k.Keys() {
		if !knownKey(keys, key) && !underKnownKey(keys, key) {
			return Config{}, fmt.Errorf("%s: unknown key", key)
		}
	}

	cfg := DefaultConfig()
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		ZeroFields:       true,
		TagName:          "koanf",
		Result:           &cfg,
	}
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf", DecoderConfig: dc}); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// LoadDefaultPath resolves the --config flag: an explicit path must exist;
// without one, ./config.yaml is used when present and the safe built-in
// defaults otherwise.
func LoadDefaultPath(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("config file: %w", err)
		}
		return explicit, nil
	}
	if _, err := os.Stat("config.yaml"); err == nil {
		return "config.yaml", nil
	}
	return "", nil
}

// Keys lists every scalar or list config key, sorted (for docs and tests).
func Keys() []string {
	keys := configKeys(reflect.TypeOf(Config{}), "")
	sort.Strings(keys)
	return keys
}

func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

func knownKey(keys []string, key string) bool {
	for _, k := range keys {
		if k == key {
			return true
		}
	}
	return false
}

// underKnownKey reports whether key lies below a known leaf (a map or list
// value written out in the file).
func underKnownKey(keys []string, key string) bool {
	for _, k := range keys {
		if strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

var durationType = reflect.TypeOf(time.Duration(0))

// configKeys walks the koanf tags of t and returns the dotted paths of its
// leaves. Structs nest; everything else (scalars, lists, maps) is a leaf.
func configKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("koanf"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != durationType && ft != reflect.TypeOf(time.Time{}) {
			out = append(out, configKeys(ft, key)...)
			continue
		}
		out = append(out, key)
	}
	return out
}
