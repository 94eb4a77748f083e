package auth

import (
	"strings"
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// allLevels returns every '/'-joined sequence of 1..depth levels from alphabet.
func allLevels(alphabet []string, depth int) []string {
	var out, prev []string
	prev = []string{""}
	for d := 1; d <= depth; d++ {
		var next []string
		for _, p := range prev {
			for _, l := range alphabet {
				s := l
				if d > 1 {
					s = p + "/" + l
				}
				next = append(next, s)
			}
		}
		out = append(out, next...)
		prev = next
	}
	return out
}

func validTestFilter(f string) bool { return validFilter(f) == nil }

// TestCoversExhaustive checks the subscribe rule against the definition:
// pattern p covers filter f exactly when every topic f matches is matched by
// p. It enumerates small filters and every topic over a slightly larger
// alphabet (so a literal level has a topic that differs from it).
func TestCoversExhaustive(t *testing.T) {
	var filters []string
	for _, f := range allLevels([]string{"a", "", "$x", "+", "#"}, 3) {
		if validTestFilter(f) {
			filters = append(filters, f)
		}
	}
	topicSet := allLevels([]string{"a", "", "$x", "z"}, 4)
	matches := make(map[string][]bool, len(filters))
	for _, f := range filters {
		m := make([]bool, len(topicSet))
		for i, tp := range topicSet {
			m[i] = topics.Matches(f, tp)
		}
		matches[f] = m
	}
	for _, p := range filters {
		for i, tp := range topicSet {
			if got := matchFilter(false, p, "", "", false, tp); got != matches[p][i] {
				t.Errorf("publish: matchFilter(%q, %q) = %v; topics.Matches says %v", p, tp, got, matches[p][i])
			}
		}
	}
	conservative := 0
	for _, p := range filters {
		mp := matches[p]
		for _, f := range filters {
			mf := matches[f]
			want := true
			for i := range topicSet {
				if mf[i] && !mp[i] {
					want = false
					break
				}
			}
			got := matchFilter(true, p, "", "", false, f)
			switch {
			case got && !want:
				t.Errorf("pattern %q covers filter %q, but a topic matches the filter and not the pattern", p, f)
			case !got && want:
				// Only "+/..." against a first-level "#" may be refused
				// although equivalent ("#" and "+/#" match the same topics);
				// refusing is the safe side.
				if !strings.HasPrefix(f, "#") || !strings.HasPrefix(p, "+") {
					t.Errorf("pattern %q does not cover filter %q; want covered", p, f)
				}
				conservative++
			}
		}
	}
	t.Logf("%d filters, %d topics, %d conservative refusals", len(filters), len(topicSet), conservative)
}
