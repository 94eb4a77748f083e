package mapping

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Rules is a compiled, validated mapping. It is immutable and safe for
// concurrent use.
type Rules struct {
	uplink      []uplinkRule
	byName      map[string]int // uplink rule name -> index into uplink
	index       *node          // uplink filters as a level trie
	deadLetter  string
	unmatchedDL bool

	downlink     []downlinkRule
	byKafkaTopic map[string]int // Kafka topic -> index into downlink
	topics       []string       // every downlink Kafka topic, in config order
}

// uplinkRule is a compiled UplinkRule.
type uplinkRule struct {
	name     string
	filter   filter
	topic    template
	key      template
	hasKey   bool
	format   Format
	ack      Ack
	fallible bool // topic may render an illegal name
}

// downlinkRule is a compiled DownlinkRule.
type downlinkRule struct {
	name        string
	topic       template
	qos         byte
	retain      bool
	topicHeader bool
	allowed     []filter
}

// Compile validates c and compiles its rules. The error lists every problem,
// each prefixed by its key, e.g. `mapping.uplink[0] (telemetry).mqtt_topic: ...`.
func Compile(c Config) (*Rules, error) {
	var errs []error
	fail := func(key string, err error) { errs = append(errs, fmt.Errorf("%s: %w", key, err)) }
	r := &Rules{deadLetter: c.DeadLetterTopic, byKafkaTopic: map[string]int{}, byName: map[string]int{}}

	switch c.Unmatched.Action {
	case "", UnmatchedDrop:
	case UnmatchedDeadLetter:
		r.unmatchedDL = true
	default:
		fail("mapping.unmatched.action", fmt.Errorf("%q is not drop or dead_letter", c.Unmatched.Action))
	}
	if c.DeadLetterTopic != "" {
		if err := validKafkaTopic(c.DeadLetterTopic); err != nil {
			fail("mapping.dead_letter_topic", err)
		}
	} else if r.unmatchedDL {
		fail("mapping.dead_letter_topic", errors.New("required when unmatched.action is dead_letter"))
	}

	names := map[string]string{} // rule name -> key of its first use
	checkName := func(key, name string) {
		switch {
		case name == "":
			fail(key+".name", errors.New("required"))
		case strings.IndexFunc(name, func(c rune) bool { return c > 127 || badKafkaChar(string(c)) >= 0 }) >= 0:
			fail(key+".name", fmt.Errorf("%q: use only a-z A-Z 0-9 . _ -", name))
		case names[name] != "":
			fail(key+".name", fmt.Errorf("%q is already used by %s", name, names[name]))
		default:
			names[name] = key
		}
	}

	for i, u := range c.Uplink {
		key := ruleKey("uplink", i, u.Name)
		checkName(key, u.Name)
		ur, rerrs := compileUplink(key, u)
		errs = append(errs, rerrs...)
		if ur.fallible && c.DeadLetterTopic == "" {
			fail(key+".kafka_topic", fmt.Errorf("%q has placeholders and may render an illegal topic: set mapping.dead_letter_topic", u.KafkaTopic))
		}
		r.byName[u.Name] = i
		r.uplink = append(r.uplink, ur)
	}
	if len(r.uplink) > math.MaxInt32 {
		fail("mapping.uplink", errors.New("too many rules"))
	}

	for i, d := range c.Downlink {
		key := ruleKey("downlink", i, d.Name)
		checkName(key, d.Name)
		dr, rerrs := compileDownlink(key, d)
		errs = append(errs, rerrs...)
		if len(d.KafkaTopics) == 0 {
			fail(key+".kafka_topics", errors.New("required"))
		}
		for j, t := range d.KafkaTopics {
			tkey := fmt.Sprintf("%s.kafka_topics[%d]", key, j)
			if err := validKafkaTopic(t); err != nil {
				fail(tkey, err)
				continue
			}
			if prev, ok := r.byKafkaTopic[t]; ok {
				fail(tkey, fmt.Errorf("%q is already consumed by downlink rule %q", t, c.Downlink[prev].Name))
				continue
			}
			r.byKafkaTopic[t] = i
			r.topics = append(r.topics, t)
		}
		r.downlink = append(r.downlink, dr)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r.index = buildIndex(r.uplink)
	return r, nil
}

// ruleKey names a rule in error messages: mapping.uplink[1] (telemetry).
func ruleKey(list string, i int, name string) string {
	if name == "" {
		return fmt.Sprintf("mapping.%s[%d]", list, i)
	}
	return fmt.Sprintf("mapping.%s[%d] (%s)", list, i, name)
}

func compileUplink(key string, u UplinkRule) (uplinkRule, []error) {
	var errs []error
	fail := func(field string, err error) { errs = append(errs, fmt.Errorf("%s.%s: %w", key, field, err)) }
	r := uplinkRule{name: u.Name, format: u.Format, ack: u.Ack}
	switch u.Format {
	case "":
		r.format = FormatRaw
	case FormatRaw, FormatJSON:
	default:
		fail("format", fmt.Errorf("%q is not raw or json", u.Format))
	}
	switch u.Ack {
	case "":
		r.ack = AckKafka
	case AckKafka, AckSpool, AckNone:
	default:
		fail("ack", fmt.Errorf("%q is not kafka, spool or none", u.Ack))
	}
	var err error
	if r.filter, err = parseFilter(u.MQTTTopic, uplinkBuiltins); err != nil {
		fail("mqtt_topic", fmt.Errorf("%q: %w", u.MQTTTopic, err))
		return r, errs // the templates can't be checked without the captures
	}
	if u.KafkaTopic == "" {
		fail("kafka_topic", errors.New("required"))
	} else if r.topic, err = compileUplinkTemplate(u.KafkaTopic, r.filter.captures); err != nil {
		fail("kafka_topic", err)
	} else if err = checkKafkaTemplate(&r.topic); err != nil {
		fail("kafka_topic", err)
	} else {
		r.fallible = !r.topic.static()
	}
	if u.Key != "" {
		r.hasKey = true
		if r.key, err = compileUplinkTemplate(u.Key, r.filter.captures); err != nil {
			fail("key", err)
		}
	}
	return r, errs
}

func compileDownlink(key string, d DownlinkRule) (downlinkRule, []error) {
	var errs []error
	fail := func(field string, err error) { errs = append(errs, fmt.Errorf("%s.%s: %w", key, field, err)) }
	r := downlinkRule{name: d.Name, retain: d.Retain, topicHeader: d.AllowTopicHeader}
	if d.QoS < 0 || d.QoS > 2 {
		fail("qos", fmt.Errorf("%d is not 0, 1 or 2", d.QoS))
	} else {
		r.qos = byte(d.QoS)
	}
	var err error
	switch {
	case d.MQTTTopic == "":
		fail("mqtt_topic", errors.New("required"))
	case strings.HasPrefix(d.MQTTTopic, "$"):
		fail("mqtt_topic", fmt.Errorf("%q: topics starting with '$' are reserved for the broker", d.MQTTTopic))
	default:
		if r.topic, err = compileDownlinkTemplate(d.MQTTTopic); err != nil {
			fail("mqtt_topic", err)
			break
		}
		for _, s := range r.topic.segs {
			if s.kind == segLiteral && strings.ContainsAny(s.text, "+#\x00") {
				fail("mqtt_topic", fmt.Errorf("%q: a topic name may not contain '+', '#' or U+0000", d.MQTTTopic)) // [MQTT-3.3.2-2]
				break
			}
		}
		if r.topic.static() {
			if err := validTopicName(r.topic.literal()); err != nil {
				fail("mqtt_topic", fmt.Errorf("%q: %w", d.MQTTTopic, err))
			}
		}
	}
	if d.AllowTopicHeader && len(d.AllowedTopics) == 0 {
		fail("allowed_topics", errors.New("required when allow_topic_header is true"))
	}
	if !d.AllowTopicHeader && len(d.AllowedTopics) > 0 {
		fail("allowed_topics", errors.New("set without allow_topic_header: true"))
	}
	for j, a := range d.AllowedTopics {
		f, err := parseFilter(a, nil)
		if err == nil && len(f.captures) > 0 {
			err = errors.New("captures are not allowed here")
		}
		if err != nil {
			fail(fmt.Sprintf("allowed_topics[%d]", j), fmt.Errorf("%q: %w", a, err))
			continue
		}
		r.allowed = append(r.allowed, f)
	}
	return r, errs
}

// UplinkRuleNames returns the uplink rule names in match order.
func (r *Rules) UplinkRuleNames() []string {
	out := make([]string, len(r.uplink))
	for i := range r.uplink {
		out[i] = r.uplink[i].name
	}
	return out
}

// DownlinkRuleNames returns the downlink rule names in config order.
func (r *Rules) DownlinkRuleNames() []string {
	out := make([]string, len(r.downlink))
	for i := range r.downlink {
		out[i] = r.downlink[i].name
	}
	return out
}

// DownlinkTopics returns every Kafka topic the downlink rules consume, in
// config order, for the consumer group's subscription.
func (r *Rules) DownlinkTopics() []string {
	return append([]string(nil), r.topics...)
}

// UplinkTopics returns the Kafka topics of the uplink rules whose topic is
// a literal (no placeholder), each once, in rule order. Templated topics are
// known only per message, so they cannot be listed.
func (r *Rules) UplinkTopics() []string {
	var out []string
	seen := map[string]bool{}
	for i := range r.uplink {
		t := &r.uplink[i].topic
		if !t.static() || seen[t.literal()] {
			continue
		}
		seen[t.literal()] = true
		out = append(out, t.literal())
	}
	return out
}

// DeadLetterTopic returns the configured dead-letter topic ("" = none).
func (r *Rules) DeadLetterTopic() string { return r.deadLetter }
