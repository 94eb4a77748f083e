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

	"github.com/iotbridge/mqtt-kafka-bridge/bridge/admin"
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
	Admin   admin.Config     `koanf:"admin"`
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

// DefaultConfig is the built-in configuration used when no file is given.
// It is safe: anonymous MQTT access is refused.
func DefaultConfig() Config {
	return Config{
		Log:     LogConfig{Level: "info", Format: "json"},
		Admin:   admin.DefaultConfig(),
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
