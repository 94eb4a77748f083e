package mapping

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestEnvelope(t *testing.T) {
	base := Publish{Topic: "devices/d1/telemetry", ClientID: "c1", QoS: 1, ReceivedAt: receivedAt}
	tests := []struct {
		name   string
		change func(*Publish)
		want   string
	}{
		{"json payload", func(p *Publish) { p.Payload = []byte(`{"t": 21.5}`) },
			`{"topic":"devices/d1/telemetry","client_id":"c1","qos":1,"retain":false,"received_at":1700000000123,"payload":{"t": 21.5},"payload_encoding":"json"}`},
		{"text payload", func(p *Publish) { p.Payload = []byte("héllo \"x\"\n") },
			`{"topic":"devices/d1/telemetry","client_id":"c1","qos":1,"retain":false,"received_at":1700000000123,"payload":"héllo \"x\"\n","payload_encoding":"utf8"}`},
		{"empty payload", func(p *Publish) { p.Payload = nil },
			`{"topic":"devices/d1/telemetry","client_id":"c1","qos":1,"retain":false,"received_at":1700000000123,"payload":"","payload_encoding":"utf8"}`},
		{"binary payload", func(p *Publish) { p.Payload = []byte{0xff, 0x00, 0x10} },
			`{"topic":"devices/d1/telemetry","client_id":"c1","qos":1,"retain":false,"received_at":1700000000123,"payload":"/wAQ","payload_encoding":"base64"}`},
		{"json with invalid UTF-8 inside a string", func(p *Publish) { p.Payload = []byte("\"\xff\"") },
			`{"topic":"devices/d1/telemetry","client_id":"c1","qos":1,"retain":false,"received_at":1700000000123,"payload":"Iv8i","payload_encoding":"base64"}`},
		{"everything", func(p *Publish) {
			p.Username = "alice"
			p.Retain = true
			p.UserProperties = []Property{{"a", "1"}, {"mqtt.x", "hidden"}, {"b", "2"}, {"a", "3"}}
			p.ContentType = "text/plain"
			p.ResponseTopic = "r/1"
			p.CorrelationData = []byte{1, 2, 3}
			p.Payload = []byte("42")
		}, `{"topic":"devices/d1/telemetry","client_id":"c1","username":"alice","qos":1,"retain":true,"received_at":1700000000123,` +
			`"user_properties":{"a":["1","3"],"b":"2"},"content_type":"text/plain","response_topic":"r/1","correlation_data":"AQID",` +
			`"payload":42,"payload_encoding":"json"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.change(&p)
			got := appendEnvelope(nil, &p)
			if string(got) != tt.want {
				t.Errorf("envelope =\n%s\nwant\n%s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("envelope is not valid JSON: %s", got)
			}
		})
	}
}

func TestUplinkJSONFormat(t *testing.T) {
	r := mustCompile(t, validConfig())
	rec, out := r.Uplink(&Publish{Topic: "devices/d1/status", ClientID: "c1", Payload: []byte("on"), ReceivedAt: receivedAt})
	if out != Matched || rec.Rule != "kinds" {
		t.Fatalf("Uplink = %v %q; want matched by kinds", out, rec.Rule)
	}
	var env struct {
		Topic    string `json:"topic"`
		Payload  string `json:"payload"`
		Encoding string `json:"payload_encoding"`
	}
	if err := json.Unmarshal(rec.Value, &env); err != nil {
		t.Fatalf("value %s: %v", rec.Value, err)
	}
	if env.Topic != "devices/d1/status" || env.Payload != "on" || env.Encoding != "utf8" {
		t.Errorf("envelope = %+v; want topic devices/d1/status, payload on, utf8", env)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "\x00\x01\x1f", `"\`, "\u2028\u2029", "\xff\xfe", "日本語", "a\tb\rc\nd", "\x7f"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendJSONString(%q) = %s: invalid JSON: %v", s, got, err)
			continue
		}
		want := s
		if !utf8.ValidString(s) {
			want = string([]rune(s)) // invalid bytes become U+FFFD
		}
		if back != want {
			t.Errorf("appendJSONString(%q) decodes to %q; want %q", s, back, want)
		}
	}
}

func FuzzEnvelope(f *testing.F) {
	f.Add("t", []byte(`{"a":1}`), "k", "v")
	f.Add("t", []byte{0xff}, "\x00", "\u2028")
	f.Fuzz(func(t *testing.T, topic string, payload []byte, k, v string) {
		p := &Publish{Topic: topic, ClientID: v, Username: k, Payload: payload, UserProperties: []Property{{k, v}, {k, topic}}}
		got := appendEnvelope(nil, p)
		if !json.Valid(got) || !utf8.Valid(got) {
			t.Fatalf("envelope is not valid JSON: %q", got)
		}
	})
}
