package mapping

// Ack says when the bridge may acknowledge (PUBACK/PUBREC) a publish that a
// rule routes. Mapping only parses and carries it; the bridge acts on it.
type Ack string

const (
	// AckKafka acks the device once Kafka has the record (acks=all). The default.
	AckKafka Ack = "kafka"
	// AckSpool acks the device once the record is fsynced to the local spool.
	AckSpool Ack = "spool"
	// AckNone acks the device on receipt (fire and forget).
	AckNone Ack = "none"
)

// Format is the shape of an uplink record's value.
type Format string

const (
	// FormatRaw sends the payload bytes exactly as published. The default.
	FormatRaw Format = "raw"
	// FormatJSON sends a JSON envelope with the metadata and the payload.
	FormatJSON Format = "json"
)

// UnmatchedAction says what happens to a publish that no uplink rule matches.
type UnmatchedAction string

const (
	// UnmatchedDrop drops the publish (the bridge counts it). The default.
	UnmatchedDrop UnmatchedAction = "drop"
	// UnmatchedDeadLetter sends it to the dead-letter topic.
	UnmatchedDeadLetter UnmatchedAction = "dead_letter"
)

// Config is the `mapping:` section of config.yaml.
type Config struct {
	// Uplink rules, MQTT to Kafka, tried in order; the first match wins.
	Uplink []UplinkRule `koanf:"uplink"`
	// Unmatched says what to do with a publish no uplink rule matches.
	Unmatched UnmatchedPolicy `koanf:"unmatched"`
	// DeadLetterTopic receives unroutable records with a mqtt.dlq.reason
	// header. Default "" (none). Required when unmatched.action is
	// dead_letter or any uplink kafka_topic has a placeholder (it may render
	// an illegal name at run time).
	DeadLetterTopic string `koanf:"dead_letter_topic"`
	// Downlink rules, Kafka to MQTT. Each Kafka topic belongs to one rule.
	Downlink []DownlinkRule `koanf:"downlink"`
}

// UnmatchedPolicy configures the fate of publishes that match no uplink rule.
type UnmatchedPolicy struct {
	// Action is drop (default) or dead_letter.
	Action UnmatchedAction `koanf:"action"`
}

// UplinkRule routes matching MQTT publishes to a Kafka topic.
type UplinkRule struct {
	// Name identifies the rule in errors, metrics and headers. Required,
	// unique across uplink and downlink rules; [A-Za-z0-9._-].
	Name string `koanf:"name"`
	// MQTTTopic is an MQTT topic filter. '+' and '#' keep their meaning and
	// "{name}" is a '+' that captures its level for the templates,
	// e.g. "devices/{device}/telemetry/#".
	MQTTTopic string `koanf:"mqtt_topic"`
	// KafkaTopic is a template for the Kafka topic, e.g. "iot.telemetry" or
	// "iot.{kind}". Placeholders: the filter's captures, {client_id},
	// {username}, {topic}. A rendering that is not a legal Kafka topic name
	// sends the record to the dead-letter topic.
	KafkaTopic string `koanf:"kafka_topic"`
	// Key is a template for the record key, with the same placeholders as
	// KafkaTopic. "" (default) sends records without a key. Roughly the Java
	// producer's record key; the partitioner hashes it.
	Key string `koanf:"key"`
	// Format is raw (default) or json.
	Format Format `koanf:"format"`
	// Ack is kafka (default), spool or none.
	Ack Ack `koanf:"ack"`
}

// DownlinkRule routes records of some Kafka topics to MQTT.
type DownlinkRule struct {
	// Name identifies the rule. Required, unique across all rules.
	Name string `koanf:"name"`
	// KafkaTopics are the literal Kafka topics this rule consumes.
	KafkaTopics []string `koanf:"kafka_topics"`
	// MQTTTopic is a template for the MQTT topic, e.g. "devices/{key}/commands".
	// Placeholders: {key}, {kafka_topic}, {header.NAME}. Each value must be
	// a non-empty UTF-8 string without '/', '+', '#' or U+0000, so one value
	// fills exactly one level.
	MQTTTopic string `koanf:"mqtt_topic"`
	// QoS of the published message: 0 (default), 1 or 2.
	QoS int `koanf:"qos"`
	// Retain sets the retain flag of the published message. Default false.
	Retain bool `koanf:"retain"`
	// AllowTopicHeader lets a record header "mqtt.topic" replace the
	// rendered topic. Default false. Requires AllowedTopics.
	AllowTopicHeader bool `koanf:"allow_topic_header"`
	// AllowedTopics are MQTT topic filters; an "mqtt.topic" header is honoured
	// only when it matches one of them. A header that does not is an error,
	// never a silent fallback to the template.
	AllowedTopics []string `koanf:"allowed_topics"`
}

// DefaultConfig returns a mapping with no rules that drops unmatched
// publishes and has no dead-letter topic.
func DefaultConfig() Config {
	return Config{Unmatched: UnmatchedPolicy{Action: UnmatchedDrop}}
}

// Validate compiles the rules and reports every problem found, each naming
// the key at fault, e.g.
// `mapping.uplink[1] (telemetry).key: unknown capture "{dev}" ...`.
func (c Config) Validate() error {
	_, err := Compile(c)
	return err
}
