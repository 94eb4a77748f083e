package packets

import (
	"strings"
	"testing"
)

func TestValidTopicName(t *testing.T) {
	for _, tc := range []struct {
		topic string
		ok    bool
	}{
		{"a", true},
		{"a/b/c", true},
		{"/", true},           // two empty levels §4.7.1
		{"$SYS/broker", true}, // codec does not police $ topics
		{"ünï/cödé", true},
		{"", false},    // [MQTT-4.7.3-1]
		{"a/+", false}, // [MQTT-3.3.2-2]
		{"a/#", false},
		{"a+b", false},
		{"a\x00b", false},        // [MQTT-1.5.4-2]
		{"a\xed\xa0\x80", false}, // surrogate [MQTT-1.5.4-1]
		{"\xff", false},
		{strings.Repeat("a", 65535), true},
		{strings.Repeat("a", 65536), false},
	} {
		err := ValidTopicName(tc.topic)
		if (err == nil) != tc.ok {
			t.Errorf("ValidTopicName(%.20q) = %v; want ok=%v", tc.topic, err, tc.ok)
		}
		if err != nil && Code(err) != TopicNameInvalid {
			t.Errorf("ValidTopicName(%.20q) code = %v; want TopicNameInvalid", tc.topic, Code(err))
		}
	}
}

func TestValidTopicFilter(t *testing.T) {
	for _, tc := range []struct {
		filter string
		ok     bool
	}{
		{"a/b", true},
		{"#", true},
		{"+", true},
		{"a/#", true},
		{"+/+/#", true},
		{"/+", true},
		{"a//b", true},
		{"$share/g/a/+", true},
		{"$share/g/#", true},
		{"$shared/g", true}, // not the share prefix: an ordinary filter
		{"", false},         // [MQTT-4.7.3-1]
		{"a/#/b", false},    // [MQTT-4.7.1-1]
		{"a#", false},       // [MQTT-4.7.1-1]
		{"a/b#", false},
		{"a+/b", false}, // [MQTT-4.7.1-2]
		{"a/+b", false},
		{"a\x00", false},
		{"\xc0\xaf", false},
		{"$share/g", false},    // no filter [MQTT-4.8.2-1]
		{"$share/g/", false},   // empty filter
		{"$share//a", false},   // empty group [MQTT-4.8.2-1]
		{"$share/g+/a", false}, // wildcard in group [MQTT-4.8.2-2]
		{"$share/#/a", false},
		{"$share/g/a#", false},
		{strings.Repeat("a", 65536), false},
	} {
		err := ValidTopicFilter(tc.filter)
		if (err == nil) != tc.ok {
			t.Errorf("ValidTopicFilter(%.20q) = %v; want ok=%v", tc.filter, err, tc.ok)
		}
		if err != nil && Code(err) != TopicFilterInvalid {
			t.Errorf("ValidTopicFilter(%.20q) code = %v; want TopicFilterInvalid", tc.filter, Code(err))
		}
	}
}

func TestParseShared(t *testing.T) {
	for _, tc := range []struct {
		filter, group, inner string
		ok                   bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/g/#", "g", "#", true},
		{"$share/g", "g", "", true},
		{"$share//a", "", "a", true},
		{"a/b", "", "", false},
		{"$SHARE/g/a", "", "", false},
		{"$share", "", "", false},
	} {
		g, in, ok := ParseShared(tc.filter)
		if g != tc.group || in != tc.inner || ok != tc.ok {
			t.Errorf("ParseShared(%q) = %q, %q, %v; want %q, %q, %v", tc.filter, g, in, ok, tc.group, tc.inner, tc.ok)
		}
	}
}

func TestValidUTF8(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"", true},
		{"plain ascii", true},
		{"\u00e9\u4e2d\U0001F600", true}, // 2, 3 and 4 byte forms
		{"\ufeffbom", true},              // [MQTT-1.5.4-3] a BOM is kept, not refused
		{"\u007f\u0080", true},           // control characters are discouraged, not forbidden
		{"a\x00", false},                 // [MQTT-1.5.4-2]
		{"\xed\xa0\x80", false},          // U+D800 [MQTT-1.5.4-1]
		{"\xed\xbf\xbf", false},          // U+DFFF
		{"\xc0\x80", false},              // overlong NUL
		{"\xe0\x80\xaf", false},          // overlong '/'
		{"\xf4\x90\x80\x80", false},      // above U+10FFFF
		{"\xc3", false},                  // truncated
		{"abc\xff", false},
	} {
		if got := ValidUTF8([]byte(tc.s)); got != tc.ok {
			t.Errorf("ValidUTF8(%q) = %v; want %v", tc.s, got, tc.ok)
		}
		if got := validUTF8String(tc.s); got != tc.ok {
			t.Errorf("validUTF8String(%q) = %v; want %v", tc.s, got, tc.ok)
		}
	}
}
