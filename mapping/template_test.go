package mapping

import (
	"regexp"
	"strings"
	"testing"
)

func TestCompileUplinkTemplate(t *testing.T) {
	pub := &Publish{Topic: "devices/d1/telemetry", ClientID: "c1", Username: "alice"}
	caps := []string{"d1", "telemetry"}
	names := []string{"device", "kind"}
	tests := []struct {
		tmpl, want, err string
	}{
		{tmpl: "iot.telemetry", want: "iot.telemetry"},
		{tmpl: "iot.{kind}", want: "iot.telemetry"},
		{tmpl: "{device}", want: "d1"},
		{tmpl: "{device}-{kind}", want: "d1-telemetry"},
		{tmpl: "{client_id}/{username}/{topic}", want: "c1/alice/devices/d1/telemetry"},
		{tmpl: "{{literal}}", want: "{literal}"},
		{tmpl: "a{{{device}}}b", want: "a{d1}b"},
		{tmpl: "", want: ""},
		{tmpl: "{dev}", err: `unknown capture "{dev}"`},
		{tmpl: "{key}", err: `unknown capture "{key}"`},
		{tmpl: "{}", err: "empty placeholder"},
		{tmpl: "a{device", err: `unterminated "{"`},
		{tmpl: "a{de{vice}", err: `unterminated "{"`},
		{tmpl: "a}b", err: `unmatched "}"`},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			tp, err := compileUplinkTemplate(tt.tmpl, names)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("compile(%q) error = %v; want one containing %q", tt.tmpl, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("compile(%q) = %v", tt.tmpl, err)
			}
			if got := tp.renderUplink(caps, pub); got != tt.want {
				t.Errorf("render(%q) = %q; want %q", tt.tmpl, got, tt.want)
			}
			if got := string(tp.appendUplink(nil, caps, pub)); got != tt.want {
				t.Errorf("append(%q) = %q; want %q", tt.tmpl, got, tt.want)
			}
		})
	}
}

func TestCompileDownlinkTemplate(t *testing.T) {
	tests := []struct {
		tmpl string
		err  string
	}{
		{tmpl: "devices/{key}/commands"},
		{tmpl: "{kafka_topic}/{header.device-id}"},
		{tmpl: "{header.}", err: "unknown placeholder"},
		{tmpl: "{device}", err: `unknown placeholder "{device}"`},
	}
	for _, tt := range tests {
		_, err := compileDownlinkTemplate(tt.tmpl)
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("compileDownlinkTemplate(%q) = %v; want error containing %q", tt.tmpl, err, tt.err)
		}
	}
}

// refToken is the reference lexer for the fuzz target: an escaped brace or a
// placeholder, found by a regexp instead of the hand-written scanner.
var refToken = regexp.MustCompile(`\{\{|\}\}|\{([^{}]*)\}`)

// refRender renders tmpl with vals the slow way; ok is false when tmpl is
// not a valid template or names a placeholder vals lacks.
func refRender(tmpl string, vals map[string]string) (string, bool) {
	ok := true
	out := refToken.ReplaceAllStringFunc(tmpl, func(tok string) string {
		switch tok {
		case "{{":
			return "\x01" // stand-ins so a leftover brace can be told from an escaped one
		case "}}":
			return "\x02"
		}
		v, found := vals[tok[1:len(tok)-1]]
		if !found {
			ok = false
		}
		return strings.NewReplacer("{", "\x03", "}", "\x04").Replace(v)
	})
	if !ok || strings.ContainsAny(out, "{}") {
		return "", false
	}
	return strings.NewReplacer("\x01", "{", "\x02", "}", "\x03", "{", "\x04", "}").Replace(out), true
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"iot.{kind}", "{device}", "{{x}}", "a{", "}", "{client_id}.{username}.{topic}", "{}", "{{{a}}}", "{b}{a}"} {
		f.Add(s, "v1", "v2")
	}
	f.Fuzz(func(t *testing.T, tmpl, a, b string) {
		if strings.ContainsAny(tmpl+a+b, "\x01\x02\x03\x04") {
			return
		}
		pub := &Publish{Topic: "t/x", ClientID: "c1", Username: "u"}
		vals := map[string]string{"a": a, "b": b, "client_id": pub.ClientID, "username": pub.Username, "topic": pub.Topic}
		want, wantOK := refRender(tmpl, vals)
		tp, err := compileUplinkTemplate(tmpl, []string{"a", "b"})
		if (err == nil) != wantOK {
			t.Fatalf("compile(%q) error = %v; reference says valid=%v", tmpl, err, wantOK)
		}
		if err != nil {
			return
		}
		caps := []string{a, b}
		if got := tp.renderUplink(caps, pub); got != want {
			t.Fatalf("render(%q) = %q; want %q", tmpl, got, want)
		}
		if got := string(tp.appendUplink(nil, caps, pub)); got != want {
			t.Fatalf("append(%q) = %q; want %q", tmpl, got, want)
		}
		if n := tp.uplinkLen(caps, pub); n != len(want) {
			t.Fatalf("uplinkLen(%q) = %d; want %d", tmpl, n, len(want))
		}
		if tp.static() && tp.literal() != want {
			t.Fatalf("static template %q literal = %q; want %q", tmpl, tp.literal(), want)
		}
		_, _ = compileDownlinkTemplate(tmpl) // must not panic
	})
}
