package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
)

// explain is the dry run of the routing rules: which rule matches, and what
// record (or MQTT message) results. Exit status 0 when a rule routes the
// input, 1 when nothing does, 2 on usage errors.
func explain(args []string, stdout, stderr io.Writer) int {
	var cf configFlags
	fs := newFlagSet("explain", stderr)
	cf.register(fs)
	downlink := fs.String("downlink", "", "explain a Kafka record on this topic instead of an MQTT publish")
	key := fs.String("key", "", "record key (downlink)")
	headers := fs.StringArray("header", nil, "record header k=v (downlink; repeatable)")
	clientID := fs.String("client-id", "device-1", "publishing client id (uplink)")
	username := fs.String("username", "", "publishing username (uplink)")
	qos := fs.Int("qos", 1, "publish QoS (uplink)")
	partitions := fs.Int32("partitions", 3, "partition count of the Kafka topic, to show the partition a key lands on")
	payload := fs.String("payload", "", "payload (uplink)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, _, err := cf.load()
	if err != nil {
		fmt.Fprintf(stderr, "config invalid: %v\n", err)
		return 2
	}
	ex, err := bridge.NewExplainer(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "config invalid: %v\n", err)
		return 2
	}
	if *downlink != "" {
		return explainDownlink(ex, *downlink, *key, *headers, stdout, stderr)
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "explain: want one MQTT topic\n%s", usage)
		return 2
	}
	return explainUplink(ex.Uplink(bridge.ExplainPublish{Topic: fs.Arg(0), ClientID: *clientID, Username: *username,
		QoS: byte(*qos), Payload: []byte(*payload)}, *partitions), stdout)
}

// partitionerNotes say how each kafka.producer.partitioner picks.
var partitionerNotes = map[string]string{
	"murmur2": "murmur2, as the Java client",
	"fnv":     "fnv, sarama's hash partitioner",
}

func explainUplink(ex bridge.UplinkExplanation, stdout io.Writer) int {
	fmt.Fprintf(stdout, "mqtt topic:  %s\n", ex.Topic)
	fmt.Fprintf(stdout, "outcome:     %s\n", ex.Outcome)
	for _, c := range ex.Checks {
		mark := " "
		if c.Matched {
			mark = "*"
		}
		fmt.Fprintf(stdout, "  %s rule %-20s %-40s %s\n", mark, c.Rule, c.Filter, c.Why)
	}
	if !ex.Routed {
		fmt.Fprintln(stdout, "no rule routes this topic: the publish is dropped and counted (mapping.unmatched.action: drop)")
		return 1
	}
	rec := ex.Record
	fmt.Fprintf(stdout, "rule:        %s\n", ruleOrNone(ex.Rule))
	for _, c := range ex.Captures {
		fmt.Fprintf(stdout, "capture:     {%s} = %q\n", c.Name, c.Value)
	}
	fmt.Fprintf(stdout, "kafka topic: %s\n", rec.Topic)
	if rec.Key == nil {
		fmt.Fprintln(stdout, "key:         (none; the producer picks a partition)")
	} else {
		fmt.Fprintf(stdout, "key:         %q\n", rec.Key)
		fmt.Fprintf(stdout, "partition:   %d of %d (%s)\n", ex.Partition, ex.Partitions, partitionerNotes[ex.Partitioner])
	}
	if rec.Reason != "" {
		fmt.Fprintf(stdout, "dead letter: %s\n", rec.Reason)
	}
	fmt.Fprintf(stdout, "ack:         %s\n", rec.Ack)
	for _, h := range rec.Headers {
		fmt.Fprintf(stdout, "header:      %s = %q\n", h.Key, h.Value)
	}
	return 0
}

func explainDownlink(ex *bridge.Explainer, topic, key string, headers []string, stdout, stderr io.Writer) int {
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	var hs []bridge.ExplainHeader
	for _, h := range headers {
		name, v, ok := strings.Cut(h, "=")
		if !ok {
			fmt.Fprintf(stderr, "explain: --header %q: want k=v\n", h)
			return 2
		}
		hs = append(hs, bridge.ExplainHeader{Key: name, Value: v})
	}
	fmt.Fprintf(stdout, "kafka topic: %s\n", topic)
	msg, err := ex.Downlink(topic, k, hs)
	if err != nil {
		fmt.Fprintf(stdout, "not routed:  %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "rule:        %s\n", msg.Rule)
	fmt.Fprintf(stdout, "mqtt topic:  %s\n", msg.Topic)
	fmt.Fprintf(stdout, "qos:         %d\n", msg.QoS)
	fmt.Fprintf(stdout, "retain:      %t\n", msg.Retain)
	for _, p := range msg.UserProperties {
		fmt.Fprintf(stdout, "user prop:   %s = %q\n", p.Key, p.Value)
	}
	return 0
}

func ruleOrNone(r string) string {
	if r == "" {
		return "(none)"
	}
	return r
}
