package mapping

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxTopicLen is the largest topic name or filter MQTT can encode. [MQTT-4.7.3-3]
const maxTopicLen = 65535

// levelKind says what one level of a topic filter matches.
type levelKind uint8

const (
	levelLiteral levelKind = iota // exactly its text
	levelPlus                     // any one level: '+' or a named capture '{name}'
	levelHash                     // '#': this level and all below, or none; always last
)

// filterLevel is one compiled level of a topic filter.
type filterLevel struct {
	kind    levelKind
	text    string // the literal text (levelLiteral)
	capture int    // index into filter.captures for a named '{name}' level; -1 otherwise
}

// filter is a compiled MQTT topic filter with named captures, such as
// "devices/{device}/telemetry/#".
type filter struct {
	raw      string
	levels   []filterLevel
	captures []string // capture names in order of appearance
}

// parseFilter compiles an MQTT topic filter whose levels may be literal, '+',
// '#' (last only) or a named capture "{name}" standing for one whole level.
// reserved lists names a capture may not take (the built-in placeholders).
func parseFilter(s string, reserved []string) (filter, error) {
	if err := checkTopicString(s); err != nil {
		return filter{}, err
	}
	f := filter{raw: s}
	parts := strings.Split(s, "/")
	for i, part := range parts {
		switch {
		case part == "#":
			if i != len(parts)-1 {
				return filter{}, errors.New(`"#" must be the last level`) // [MQTT-4.7.1-1]
			}
			f.levels = append(f.levels, filterLevel{kind: levelHash, capture: -1})
		case part == "+":
			f.levels = append(f.levels, filterLevel{kind: levelPlus, capture: -1})
		case strings.ContainsAny(part, "#"):
			return filter{}, fmt.Errorf(`level %q: "#" must be alone in its level`, part) // [MQTT-4.7.1-1]
		case strings.ContainsAny(part, "+"):
			return filter{}, fmt.Errorf(`level %q: "+" must be alone in its level`, part) // [MQTT-4.7.1-2]
		case strings.ContainsAny(part, "{}"):
			if len(part) < 2 || part[0] != '{' || part[len(part)-1] != '}' {
				return filter{}, fmt.Errorf("level %q: a capture must be a whole level like {name}", part)
			}
			name := part[1 : len(part)-1]
			if !validName(name) {
				return filter{}, fmt.Errorf("capture %q: a name is a letter or '_' followed by letters, digits or '_'", part)
			}
			for _, r := range reserved {
				if name == r {
					return filter{}, fmt.Errorf("capture %q: %q is a built-in placeholder", part, name)
				}
			}
			for _, c := range f.captures {
				if c == name {
					return filter{}, fmt.Errorf("capture %q appears twice", part)
				}
			}
			f.levels = append(f.levels, filterLevel{kind: levelPlus, capture: len(f.captures)})
			f.captures = append(f.captures, name)
		default:
			f.levels = append(f.levels, filterLevel{kind: levelLiteral, text: part, capture: -1})
		}
	}
	return f, nil
}

// wildcardFirst reports whether the filter starts with '+', '#' or a capture;
// such a filter never matches a topic that begins with '$'. [MQTT-4.7.2-1]
func (f *filter) wildcardFirst() bool { return f.levels[0].kind != levelLiteral }

// match reports whether topic matches the filter and, if it does, appends the
// capture values to caps in capture order. It allocates nothing when caps has
// room. On no match caps is returned unchanged in length.
func (f *filter) match(topic string, caps []string) ([]string, bool) {
	if len(topic) > 0 && topic[0] == '$' && f.wildcardFirst() { // [MQTT-4.7.2-1]
		return caps, false
	}
	n := len(caps)
	pos := 0 // start of the next level; len(topic)+1 once every level is consumed
	for _, l := range f.levels {
		if l.kind == levelHash {
			return caps, true // '#' also matches the parent level [MQTT-4.7.1-1]
		}
		if pos > len(topic) {
			return caps[:n], false
		}
		level, next := nextLevel(topic, pos)
		switch l.kind {
		case levelLiteral:
			if level != l.text {
				return caps[:n], false
			}
		case levelPlus:
			if l.capture >= 0 {
				caps = append(caps, level)
			}
		}
		pos = next
	}
	if pos <= len(topic) {
		return caps[:n], false
	}
	return caps, true
}

// nextLevel returns the level that starts at pos and the start of the level
// after it (len(topic)+1 when it was the last).
func nextLevel(topic string, pos int) (string, int) {
	if i := strings.IndexByte(topic[pos:], '/'); i >= 0 {
		return topic[pos : pos+i], pos + i + 1
	}
	return topic[pos:], len(topic) + 1
}

// checkTopicString applies the rules common to topic names and filters:
// non-empty, well-formed UTF-8 without U+0000, at most 65535 bytes.
func checkTopicString(s string) error {
	switch {
	case s == "":
		return errors.New("empty topic") // [MQTT-4.7.3-1]
	case len(s) > maxTopicLen:
		return fmt.Errorf("topic is %d bytes; the limit is %d", len(s), maxTopicLen) // [MQTT-4.7.3-3]
	case !utf8.ValidString(s):
		return errors.New("topic is not valid UTF-8") // [MQTT-1.5.4-1]
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("topic contains U+0000") // [MQTT-4.7.3-2]
	}
	return nil
}

// validTopicName checks a topic a message is published to: the common rules
// plus no wildcard characters. [MQTT-3.3.2-2]
func validTopicName(s string) error {
	if err := checkTopicString(s); err != nil {
		return err
	}
	if strings.ContainsAny(s, "+#") {
		return errors.New("topic name contains a wildcard") // [MQTT-3.3.2-2]
	}
	return nil
}

// validName reports whether s is an identifier: [A-Za-z_][A-Za-z0-9_]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
