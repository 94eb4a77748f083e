package packets

import (
	"strings"
	"unicode/utf8"
)

// maxStringLen is the longest UTF-8 string or binary field: its length is a
// two-byte integer. §1.5.4 §1.5.6
const maxStringLen = 65535

const sharePrefix = "$share/"

// ValidTopicName checks a PUBLISH topic: non-empty, valid UTF-8 without U+0000,
// at most 65535 bytes, no wildcards. [MQTT-3.3.2-1] [MQTT-3.3.2-2] [MQTT-4.7.3-1]
// The error carries TopicNameInvalid.
func ValidTopicName(topic string) error {
	switch {
	case topic == "":
		return Errorf(TopicNameInvalid, "empty topic name") // [MQTT-4.7.3-1]
	case len(topic) > maxStringLen:
		return Errorf(TopicNameInvalid, "topic name longer than %d bytes", maxStringLen)
	}
	wildcard, valid := scanTopic(topic)
	if !valid {
		return Errorf(TopicNameInvalid, "topic name is not valid UTF-8") // [MQTT-1.5.4-1] [MQTT-1.5.4-2]
	}
	if wildcard {
		return Errorf(TopicNameInvalid, "wildcard in topic name %q", topic) // [MQTT-3.3.2-2] [MQTT-4.7.0-1]
	}
	return nil
}

// scanTopic makes one pass over s and reports whether it holds a wildcard
// character and whether it is valid UTF-8 without U+0000. ASCII, the usual
// case, needs no decoding.
func scanTopic(s string) (wildcard, valid bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+' || c == '#':
			wildcard = true
		case c == 0:
			return wildcard, false
		case c >= utf8.RuneSelf:
			rest := s[i:]
			return wildcard || hasWildcard(rest), validUTF8String(rest)
		}
	}
	return wildcard, true
}

// hasWildcard reports whether s contains '+' or '#'.
func hasWildcard(s string) bool {
	return strings.IndexByte(s, '+') >= 0 || strings.IndexByte(s, '#') >= 0
}

// ValidTopicFilter checks a subscription filter: non-empty, valid UTF-8,
// '#' only last and alone in its level, '+' alone in its level, and for
// $share/{group}/{filter} a non-empty group without wildcards followed by a
// valid filter. [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.8.2-1] [MQTT-4.8.2-2]
// The error carries TopicFilterInvalid.
func ValidTopicFilter(filter string) error {
	switch {
	case filter == "":
		return Errorf(TopicFilterInvalid, "empty topic filter") // [MQTT-4.7.3-1]
	case len(filter) > maxStringLen:
		return Errorf(TopicFilterInvalid, "topic filter longer than %d bytes", maxStringLen)
	case !validUTF8String(filter):
		return Errorf(TopicFilterInvalid, "topic filter is not valid UTF-8") // [MQTT-1.5.4-1] [MQTT-1.5.4-2]
	}
	if group, inner, ok := ParseShared(filter); ok {
		if group == "" {
			return Errorf(TopicFilterInvalid, "shared subscription %q has an empty group", filter) // [MQTT-4.8.2-1]
		}
		if hasWildcard(group) {
			return Errorf(TopicFilterInvalid, "shared subscription group %q contains a wildcard", group) // [MQTT-4.8.2-2]
		}
		if inner == "" {
			return Errorf(TopicFilterInvalid, "shared subscription %q has no topic filter", filter) // [MQTT-4.8.2-1]
		}
		filter = inner
	}
	return checkFilterLevels(filter)
}

// checkFilterLevels applies the wildcard placement rules to a (non-shared)
// filter. [MQTT-4.7.1-1] [MQTT-4.7.1-2]
func checkFilterLevels(filter string) error {
	start := 0
	for i := 0; i <= len(filter); i++ {
		if i < len(filter) && filter[i] != '/' {
			continue
		}
		level := filter[start:i]
		if len(level) > 1 && hasWildcard(level) {
			return Errorf(TopicFilterInvalid, "wildcard must occupy a whole level in %q", filter) // [MQTT-4.7.1-2]
		}
		if level == "#" && i != len(filter) {
			return Errorf(TopicFilterInvalid, "'#' must be the last level in %q", filter) // [MQTT-4.7.1-1]
		}
		start = i + 1
	}
	return nil
}

// ParseShared splits "$share/{group}/{filter}" into its group and filter; ok
// is false for a filter that is not a shared subscription (no "$share/"
// prefix). A filter with the prefix but no second '/' gives ok true, the rest
// as group and an empty inner filter, which ValidTopicFilter refuses.
func ParseShared(filter string) (group, inner string, ok bool) {
	rest, ok := strings.CutPrefix(filter, sharePrefix)
	if !ok {
		return "", "", false
	}
	group, inner, _ = strings.Cut(rest, "/")
	return group, inner, true
}
