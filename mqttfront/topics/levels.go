// Package topics holds the broker's subscription index and retained-message
// index, both tries keyed by topic level, and the topic-filter matching rules
// they share.
package topics

import "strings"

// sharePrefix starts a shared subscription filter: $share/{group}/{filter}.
// [MQTT-4.8.2-1]
const sharePrefix = "$share/"

// splitShared splits "$share/{group}/{filter}" into group and inner filter.
// ok is false when filter is not a well-formed shared subscription (no
// prefix, an empty group, or no filter after the group); such a filter is
// then treated as an ordinary filter. The broker's codec rejects malformed
// shared filters before they reach the index. [MQTT-4.8.2-1] [MQTT-4.8.2-2]
func splitShared(filter string) (group, inner string, ok bool) {
	if !strings.HasPrefix(filter, sharePrefix) {
		return "", filter, false
	}
	rest := filter[len(sharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return "", filter, false
	}
	return rest[:i], rest[i+1:], true
}

// SplitShared is splitShared for other packages (auth checks a shared
// subscription by its inner filter). For a filter that is not a shared
// subscription it returns ("", filter, false).
func SplitShared(filter string) (group, inner string, ok bool) {
	return splitShared(filter)
}

// nextLevel returns the first level of s and what follows the separating
// '/'. more is false when level is the last one. Empty levels are real
// levels: "a//b" has three, "/a" has two. It never allocates.
func nextLevel(s string) (level, rest string, more bool) {
	i := strings.IndexByte(s, '/')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// Matches reports whether the plain filter (without a $share prefix) matches
// the topic name, by the same rules as the tries:
//   - '+' matches exactly one level, which may be empty [MQTT-4.7.1-2];
//   - '#' matches its parent level and any number of child levels, so
//     "sport/#" matches "sport" [MQTT-4.7.1-2];
//   - a topic starting with '$' is not matched by a filter whose first level
//     is '+' or '#' [MQTT-4.7.2-1].
//
// Filter validity is the codec's job; a '#' that is not the last level
// matches nothing after it.
func Matches(filter, topic string) bool {
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false // [MQTT-4.7.2-1]
	}
	f, t := filter, topic
	for {
		fl, frest, fmore := nextLevel(f)
		if fl == "#" {
			return !fmore
		}
		tl, trest, tmore := nextLevel(t)
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case fmore && tmore:
			f, t = frest, trest
		case !fmore && !tmore:
			return true
		case fmore && !tmore:
			// The topic ended: only a trailing "#" still matches, as it
			// covers its parent level. [MQTT-4.7.1-2]
			return frest == "#"
		default:
			return false
		}
	}
}
