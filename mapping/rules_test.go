package mapping

import (
	"slices"
	"strings"
	"testing"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
)

// validConfig is a small config every table case starts from.
func validConfig() Config {
	c := DefaultConfig()
	c.DeadLetterTopic = "iot.dlq"
	c.Uplink = []UplinkRule{
		{Name: "telemetry", MQTTTopic: "devices/{device}/telemetry/#", KafkaTopic: "iot.telemetry", Key: "{device}"},
		{Name: "kinds", MQTTTopic: "devices/{device}/{kind}", KafkaTopic: "iot.{kind}", Key: "{client_id}", Format: FormatJSON, Ack: AckSpool},
	}
	c.Downlink = []DownlinkRule{
		{Name: "commands", KafkaTopics: []string{"iot.commands"}, MQTTTopic: "devices/{key}/commands", QoS: 1},
	}
	return c
}

func TestDefaultConfigValidates(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v; want nil", err)
	}
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("validConfig().Validate() = %v; want nil", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // the whole message of one of the joined errors
	}{
		{"unknown key capture", func(c *Config) { c.Uplink[1].Key = "{dev}" },
			`mapping.uplink[1] (kinds).key: unknown capture "{dev}" (captures: {device}, {kind}; built-ins: {client_id}, {username}, {topic})`},
		{"unknown topic capture", func(c *Config) { c.Uplink[0].KafkaTopic = "iot.{kind}" },
			`mapping.uplink[0] (telemetry).kafka_topic: unknown capture "{kind}" (captures: {device}; built-ins: {client_id}, {username}, {topic})`},
		{"duplicate capture", func(c *Config) { c.Uplink[1].MQTTTopic = "a/{kind}/{kind}" },
			`mapping.uplink[1] (kinds).mqtt_topic: "a/{kind}/{kind}": capture "{kind}" appears twice`},
		{"bad filter", func(c *Config) { c.Uplink[0].MQTTTopic = "a/#/b" },
			`mapping.uplink[0] (telemetry).mqtt_topic: "a/#/b": "#" must be the last level`},
		{"illegal static kafka topic", func(c *Config) { c.Uplink[0].KafkaTopic = "iot/telemetry" },
			`mapping.uplink[0] (telemetry).kafka_topic: Kafka topic "iot/telemetry": illegal character '/' at offset 3 (allowed: a-z A-Z 0-9 . _ -)`},
		{"dot kafka topic", func(c *Config) { c.Uplink[0].KafkaTopic = ".." },
			`mapping.uplink[0] (telemetry).kafka_topic: Kafka topic may not be ".."`},
		{"illegal literal in template", func(c *Config) { c.Uplink[1].KafkaTopic = "iot:{kind}" },
			`mapping.uplink[1] (kinds).kafka_topic: illegal character ':' in "iot:{kind}" (allowed: a-z A-Z 0-9 . _ -)`},
		{"template too long", func(c *Config) { c.Uplink[1].KafkaTopic = strings.Repeat("x", 249) + "{kind}" },
			`mapping.uplink[1] (kinds).kafka_topic: renders at least 250 characters; the limit is 249`},
		{"missing kafka topic", func(c *Config) { c.Uplink[0].KafkaTopic = "" },
			`mapping.uplink[0] (telemetry).kafka_topic: required`},
		{"missing name", func(c *Config) { c.Uplink[0].Name = "" },
			`mapping.uplink[0].name: required`},
		{"bad name", func(c *Config) { c.Uplink[0].Name = "tele metry" },
			`mapping.uplink[0] (tele metry).name: "tele metry": use only a-z A-Z 0-9 . _ -`},
		{"duplicate name", func(c *Config) { c.Downlink[0].Name = "telemetry" },
			`mapping.downlink[0] (telemetry).name: "telemetry" is already used by mapping.uplink[0] (telemetry)`},
		{"bad format", func(c *Config) { c.Uplink[0].Format = "avro" },
			`mapping.uplink[0] (telemetry).format: "avro" is not raw or json`},
		{"bad ack", func(c *Config) { c.Uplink[0].Ack = "disk" },
			`mapping.uplink[0] (telemetry).ack: "disk" is not kafka, spool or none`},
		{"bad unmatched", func(c *Config) { c.Unmatched.Action = "keep" },
			`mapping.unmatched.action: "keep" is not drop or dead_letter`},
		{"dlq needed for templates", func(c *Config) { c.DeadLetterTopic = "" },
			`mapping.uplink[1] (kinds).kafka_topic: "iot.{kind}" has placeholders and may render an illegal topic: set mapping.dead_letter_topic`},
		{"dlq needed for unmatched", func(c *Config) { c.DeadLetterTopic = ""; c.Unmatched.Action = UnmatchedDeadLetter },
			`mapping.dead_letter_topic: required when unmatched.action is dead_letter`},
		{"illegal dlq", func(c *Config) { c.DeadLetterTopic = "dlq!" },
			`mapping.dead_letter_topic: Kafka topic "dlq!": illegal character '!' at offset 3 (allowed: a-z A-Z 0-9 . _ -)`},
		{"downlink qos", func(c *Config) { c.Downlink[0].QoS = 3 },
			`mapping.downlink[0] (commands).qos: 3 is not 0, 1 or 2`},
		{"downlink no topics", func(c *Config) { c.Downlink[0].KafkaTopics = nil },
			`mapping.downlink[0] (commands).kafka_topics: required`},
		{"downlink bad kafka topic", func(c *Config) { c.Downlink[0].KafkaTopics = []string{"cmd.{device}"} },
			`mapping.downlink[0] (commands).kafka_topics[0]: Kafka topic "cmd.{device}": illegal character '{' at offset 4 (allowed: a-z A-Z 0-9 . _ -)`},
		{"downlink topic twice", func(c *Config) {
			c.Downlink = append(c.Downlink, DownlinkRule{Name: "again", KafkaTopics: []string{"iot.commands"}, MQTTTopic: "x"})
		}, `mapping.downlink[1] (again).kafka_topics[0]: "iot.commands" is already consumed by downlink rule "commands"`},
		{"downlink unknown placeholder", func(c *Config) { c.Downlink[0].MQTTTopic = "devices/{device}" },
			`mapping.downlink[0] (commands).mqtt_topic: unknown placeholder "{device}" (known: {key}, {kafka_topic}, {header.NAME})`},
		{"downlink wildcard", func(c *Config) { c.Downlink[0].MQTTTopic = "devices/+/{key}" },
			`mapping.downlink[0] (commands).mqtt_topic: "devices/+/{key}": a topic name may not contain '+', '#' or U+0000`},
		{"downlink dollar", func(c *Config) { c.Downlink[0].MQTTTopic = "$SYS/{key}" },
			`mapping.downlink[0] (commands).mqtt_topic: "$SYS/{key}": topics starting with '$' are reserved for the broker`},
		{"topic header without allow list", func(c *Config) { c.Downlink[0].AllowTopicHeader = true },
			`mapping.downlink[0] (commands).allowed_topics: required when allow_topic_header is true`},
		{"allow list without topic header", func(c *Config) { c.Downlink[0].AllowedTopics = []string{"devices/#"} },
			`mapping.downlink[0] (commands).allowed_topics: set without allow_topic_header: true`},
		{"bad allowed filter", func(c *Config) {
			c.Downlink[0].AllowTopicHeader = true
			c.Downlink[0].AllowedTopics = []string{"devices/{d}/#"}
		}, `mapping.downlink[0] (commands).allowed_topics[0]: "devices/{d}/#": captures are not allowed here`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil; want %q", tt.want)
			}
			if !slices.Contains(strings.Split(err.Error(), "\n"), tt.want) {
				t.Errorf("Validate() = %q;\nwant a line %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	c := validConfig()
	c.Uplink[0].Key = "{nope}"
	c.Uplink[1].Format = "xml"
	c.Downlink[0].QoS = -1
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil; want three errors")
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 3 {
		t.Errorf("Validate() reported %d errors; want 3:\n%v", n, err)
	}
}

func TestConfigFromYAML(t *testing.T) {
	const doc = `
mapping:
  uplink:
    - name: telemetry
      mqtt_topic: "devices/{device}/telemetry/#"
      kafka_topic: "iot.telemetry"
      key: "{device}"
      format: json
      ack: spool
  unmatched:
    action: dead_letter
  dead_letter_topic: "iot.dlq"
  downlink:
    - name: commands
      kafka_topics: ["iot.commands"]
      mqtt_topic: "devices/{key}/commands"
      qos: 1
      retain: true
      allow_topic_header: true
      allowed_topics: ["devices/#"]
`
	m, err := yaml.Parser().Unmarshal([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(m, ""), nil); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := k.UnmarshalWithConf("mapping", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Uplink: []UplinkRule{{Name: "telemetry", MQTTTopic: "devices/{device}/telemetry/#", KafkaTopic: "iot.telemetry",
			Key: "{device}", Format: FormatJSON, Ack: AckSpool}},
		Unmatched:       UnmatchedPolicy{Action: UnmatchedDeadLetter},
		DeadLetterTopic: "iot.dlq",
		Downlink: []DownlinkRule{{Name: "commands", KafkaTopics: []string{"iot.commands"}, MQTTTopic: "devices/{key}/commands",
			QoS: 1, Retain: true, AllowTopicHeader: true, AllowedTopics: []string{"devices/#"}}},
	}
	if !equalConfig(c, want) {
		t.Fatalf("unmarshalled %+v;\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func equalConfig(a, b Config) bool {
	if a.Unmatched != b.Unmatched || a.DeadLetterTopic != b.DeadLetterTopic || !slices.Equal(a.Uplink, b.Uplink) {
		return false
	}
	return slices.EqualFunc(a.Downlink, b.Downlink, func(x, y DownlinkRule) bool {
		return x.Name == y.Name && slices.Equal(x.KafkaTopics, y.KafkaTopics) && x.MQTTTopic == y.MQTTTopic &&
			x.QoS == y.QoS && x.Retain == y.Retain && x.AllowTopicHeader == y.AllowTopicHeader &&
			slices.Equal(x.AllowedTopics, y.AllowedTopics)
	})
}

func TestRuleListings(t *testing.T) {
	c := validConfig()
	c.Downlink[0].KafkaTopics = []string{"iot.commands", "iot.config"}
	r, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.UplinkRuleNames(), []string{"telemetry", "kinds"}; !slices.Equal(got, want) {
		t.Errorf("UplinkRuleNames() = %q; want %q", got, want)
	}
	if got, want := r.DownlinkRuleNames(), []string{"commands"}; !slices.Equal(got, want) {
		t.Errorf("DownlinkRuleNames() = %q; want %q", got, want)
	}
	if got, want := r.DownlinkTopics(), []string{"iot.commands", "iot.config"}; !slices.Equal(got, want) {
		t.Errorf("DownlinkTopics() = %q; want %q", got, want)
	}
	// "kinds" renders its topic per message: only literal topics are listed.
	if got, want := r.UplinkTopics(), []string{"iot.telemetry"}; !slices.Equal(got, want) {
		t.Errorf("UplinkTopics() = %q; want %q", got, want)
	}
	if got := r.DeadLetterTopic(); got != "iot.dlq" {
		t.Errorf("DeadLetterTopic() = %q; want iot.dlq", got)
	}
}
