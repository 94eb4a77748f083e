package mapping

import (
	"slices"
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		filter   string
		captures []string
		err      string // substring; "" = valid
	}{
		{filter: "a/b/c"},
		{filter: "#"},
		{filter: "+"},
		{filter: "a/+/c/#"},
		{filter: "/"},
		{filter: "a//b"},
		{filter: "devices/{device}/telemetry/#", captures: []string{"device"}},
		{filter: "{site}/{device}/+", captures: []string{"site", "device"}},
		{filter: "{_x9}", captures: []string{"_x9"}},
		{filter: "", err: "empty topic"},                            // [MQTT-4.7.3-1]
		{filter: "a/#/b", err: `"#" must be the last level`},        // [MQTT-4.7.1-1]
		{filter: "a/b#", err: `"#" must be alone`},                  // [MQTT-4.7.1-1]
		{filter: "a/b+/c", err: `"+" must be alone`},                // [MQTT-4.7.1-2]
		{filter: "a/\x00", err: "U+0000"},                           // [MQTT-4.7.3-2]
		{filter: "a/\xff", err: "UTF-8"},                            // [MQTT-1.5.4-1]
		{filter: strings.Repeat("a", 65536), err: "limit is 65535"}, // [MQTT-4.7.3-3]
		{filter: "a/x{device}", err: "whole level"},
		{filter: "a/{device", err: "whole level"},
		{filter: "a/{}", err: "a name is"},
		{filter: "a/{1x}", err: "a name is"},
		{filter: "a/{d-x}", err: "a name is"},
		{filter: "{d}/{d}", err: `capture "{d}" appears twice`},
		{filter: "a/{topic}", err: "built-in placeholder"},
		{filter: "a/{client_id}", err: "built-in placeholder"},
	}
	for _, tt := range tests {
		t.Run(tt.filter[:min(len(tt.filter), 40)], func(t *testing.T) {
			f, err := parseFilter(tt.filter, uplinkBuiltins)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseFilter(%q) error = %v; want one containing %q", tt.filter, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFilter(%q) = %v; want no error", tt.filter, err)
			}
			if !slices.Equal(f.captures, tt.captures) {
				t.Errorf("parseFilter(%q) captures = %q; want %q", tt.filter, f.captures, tt.captures)
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
		caps          []string
	}{
		{"a/b/c", "a/b/c", true, nil},
		{"a/b/c", "a/b", false, nil},
		{"a/b/c", "a/b/c/d", false, nil},
		{"a/+/c", "a/x/c", true, nil},
		{"a/+/c", "a//c", true, nil}, // an empty level is a level
		{"a/{d}/c", "a/x/c", true, []string{"x"}},
		{"a/{d}/c", "a//c", true, []string{""}},
		{"a/{d}/{e}", "a/x/y", true, []string{"x", "y"}},
		{"a/#", "a", true, nil}, // '#' matches the parent [MQTT-4.7.1-1]
		{"a/#", "a/b/c", true, nil},
		{"a/#", "ab", false, nil},
		{"a/{d}/#", "a/x", true, []string{"x"}},
		{"a/{d}/#", "a", false, nil},
		{"#", "a/b", true, nil},
		{"#", "/", true, nil},
		{"+", "a", true, nil},
		{"+", "/a", false, nil},
		{"+/+", "/a", true, nil},
		{"/+", "/a", true, nil},
		{"a/", "a/", true, nil},
		{"a/", "a", false, nil},
		{"#", "$SYS/x", false, nil},     // [MQTT-4.7.2-1]
		{"+/x", "$SYS/x", false, nil},   // [MQTT-4.7.2-1]
		{"{d}/x", "$SYS/x", false, nil}, // [MQTT-4.7.2-1]
		{"$SYS/#", "$SYS/x", true, nil}, // a literal '$' level matches
		{"$SYS/+", "$SYS/x", true, nil}, // wildcards below a literal '$' level are fine
		{"a/$b/+", "a/$b/c", true, nil}, // '$' only matters in the first level
		{"+/$b", "a/$b", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.filter+" "+tt.topic, func(t *testing.T) {
			f, err := parseFilter(tt.filter, nil)
			if err != nil {
				t.Fatal(err)
			}
			caps, ok := f.match(tt.topic, nil)
			if ok != tt.want {
				t.Fatalf("match(%q, %q) = %v; want %v", tt.filter, tt.topic, ok, tt.want)
			}
			if ok && !slices.Equal(caps, tt.caps) {
				t.Errorf("match(%q, %q) captures = %q; want %q", tt.filter, tt.topic, caps, tt.caps)
			}
			if explained, why := f.explain(tt.topic); explained != tt.want {
				t.Errorf("explain(%q, %q) = %v (%s); want %v", tt.filter, tt.topic, explained, why, tt.want)
			}
		})
	}
}

func TestValidTopicName(t *testing.T) {
	for topic, ok := range map[string]bool{
		"a/b":   true,
		"/":     true,
		"":      false,
		"a/+":   false, // [MQTT-3.3.2-2]
		"a/#":   false,
		"a\x00": false,
	} {
		if err := validTopicName(topic); (err == nil) != ok {
			t.Errorf("validTopicName(%q) = %v; want ok=%v", topic, err, ok)
		}
	}
}
