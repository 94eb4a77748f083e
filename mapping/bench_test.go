package mapping

import (
	"fmt"
	"testing"
)

// benchRules builds n uplink rules. Layouts:
//   - "literal": each rule has its own first level (site0000/{device}/telemetry/#),
//     the trie jumps straight to one subtree.
//   - "wildcard": every rule starts with a capture ({tenant}/dev{i}/{kind}),
//     so the first level gives the index nothing; the second level does.
//   - "shared": every rule is {tenant}/+/m{i}/#, the literal is at level 3.
func benchRules(b *testing.B, layout string, n int, format Format) *Rules {
	c := DefaultConfig()
	c.DeadLetterTopic = "iot.dlq"
	for i := range n {
		var u UplinkRule
		switch layout {
		case "literal":
			u = UplinkRule{MQTTTopic: fmt.Sprintf("site%04d/{device}/telemetry/#", i), KafkaTopic: "iot.telemetry", Key: "{device}"}
		case "wildcard":
			u = UplinkRule{MQTTTopic: fmt.Sprintf("{tenant}/dev%04d/{kind}", i), KafkaTopic: "iot.{kind}", Key: "{tenant}"}
		case "shared":
			u = UplinkRule{MQTTTopic: fmt.Sprintf("{tenant}/+/m%04d/#", i), KafkaTopic: "iot.telemetry", Key: "{tenant}"}
		}
		u.Name = fmt.Sprintf("r%04d", i)
		u.Format = format
		c.Uplink = append(c.Uplink, u)
	}
	return mustCompile(b, c)
}

// benchPayload is 128 bytes of JSON, so the json format takes its most
// common path (a JSON payload embedded as is).
var benchPayload = []byte(`{"device":"d1","temp":21.5,"humidity":40.25,"battery":3.71,"seq":123456,"ts":1700000000123,"ok":true,"fw":"1.2.3"}`)

func benchPublish(topic string) *Publish {
	return &Publish{
		Topic: topic, ClientID: "client-0001", Username: "device", QoS: 1,
		Payload: benchPayload, ReceivedAt: receivedAt,
		UserProperties: []Property{{"unit", "C"}},
	}
}

// BenchmarkMatch measures the rule lookup alone (no record is built).
func BenchmarkMatch(b *testing.B) {
	cases := []struct {
		name, layout, topic string
	}{
		{"literal/first", "literal", "site0000/d1/telemetry/temp"},
		{"literal/last", "literal", "site0999/d1/telemetry/temp"},
		{"literal/miss", "literal", "other/d1/telemetry/temp"},
		{"wildcard/last", "wildcard", "t1/dev0999/temp"},
		{"shared/last", "shared", "t1/x/m0999/a/b"},
	}
	for _, tc := range cases {
		b.Run(tc.name+"/trie", func(b *testing.B) {
			r := benchRules(b, tc.layout, 1000, FormatRaw)
			b.ReportAllocs()
			for b.Loop() {
				r.index.match(tc.topic)
			}
		})
		b.Run(tc.name+"/linear", func(b *testing.B) {
			r := benchRules(b, tc.layout, 1000, FormatRaw)
			b.ReportAllocs()
			for b.Loop() {
				linearMatch(r.uplink, tc.topic)
			}
		})
	}
}

// BenchmarkUplink measures a whole Uplink call: match, captures, key,
// headers and value, with 1,000 rules.
func BenchmarkUplink(b *testing.B) {
	cases := []struct {
		name, layout, topic string
		format              Format
	}{
		{"raw/literal", "literal", "site0999/d1/telemetry/temp", FormatRaw},
		{"raw/wildcard", "wildcard", "t1/dev0999/temp", FormatRaw},
		{"json/literal", "literal", "site0999/d1/telemetry/temp", FormatJSON},
		{"raw/unmatched", "literal", "other/d1", FormatRaw},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			r := benchRules(b, tc.layout, 1000, tc.format)
			p := benchPublish(tc.topic)
			b.SetBytes(int64(len(p.Payload)))
			b.ReportAllocs()
			for b.Loop() {
				r.Uplink(p)
			}
		})
	}
}

func BenchmarkDownlink(b *testing.B) {
	r := mustCompile(b, downlinkConfig())
	rec := &KafkaRecord{Topic: "iot.commands", Key: []byte("device-0001"), Value: make([]byte, 128),
		Headers: []Header{{"trace", []byte("abc")}}}
	b.SetBytes(int64(len(rec.Value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Downlink(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile1000(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchRules(b, "literal", 1000, FormatRaw)
	}
}
