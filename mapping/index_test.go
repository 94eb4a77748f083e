package mapping

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// linearMatch is the reference: the first rule whose filter matches.
func linearMatch(rules []uplinkRule, topic string) int {
	for i := range rules {
		if _, ok := rules[i].filter.match(topic, nil); ok {
			return i
		}
	}
	return -1
}

// rulesFromFilters compiles bare uplink rules for a list of filters; filters
// that do not parse are skipped.
func rulesFromFilters(filters []string) []uplinkRule {
	var rules []uplinkRule
	for _, s := range filters {
		f, err := parseFilter(s, nil)
		if err != nil {
			continue
		}
		rules = append(rules, uplinkRule{filter: f})
	}
	return rules
}

func TestIndexFirstMatchWins(t *testing.T) {
	filters := []string{
		"devices/{device}/telemetry/#", // 0
		"devices/d1/telemetry",         // 1: shadowed by 0
		"devices/+/status",             // 2
		"devices/d1/+",                 // 3
		"#",                            // 4
		"$SYS/#",                       // 5
		"a/b",                          // 6: shadowed by 4
	}
	rules := rulesFromFilters(filters)
	idx := buildIndex(rules)
	tests := []struct {
		topic string
		want  int
	}{
		{"devices/d1/telemetry", 0},
		{"devices/d1/telemetry/x/y", 0},
		{"devices/d2/status", 2},
		{"devices/d1/status", 2},
		{"devices/d1/other", 3},
		{"a/b", 4},
		{"x", 4},
		{"$SYS/uptime", 5},
		{"$other", -1},
	}
	for _, tt := range tests {
		if got := idx.match(tt.topic); got != tt.want {
			t.Errorf("match(%q) = %d; want %d", tt.topic, got, tt.want)
		}
		if got := linearMatch(rules, tt.topic); got != tt.want {
			t.Errorf("linearMatch(%q) = %d; want %d", tt.topic, got, tt.want)
		}
	}
}

// TestIndexAgreesWithLinearScan throws random filters and topics over a tiny
// alphabet at both matchers.
func TestIndexAgreesWithLinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	levels := []string{"a", "b", "", "$x"}
	randTopic := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[rng.IntN(len(levels))]
		}
		return strings.Join(parts, "/")
	}
	randFilter := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			switch rng.IntN(6) {
			case 0:
				parts[i] = "+"
			case 1:
				parts[i] = "{c" + string(rune('a'+i)) + "}"
			default:
				parts[i] = levels[rng.IntN(len(levels))]
			}
		}
		if rng.IntN(3) == 0 {
			parts[n-1] = "#"
		}
		return strings.Join(parts, "/")
	}
	for round := range 300 {
		filters := make([]string, 1+rng.IntN(20))
		for i := range filters {
			filters[i] = randFilter()
		}
		rules := rulesFromFilters(filters)
		idx := buildIndex(rules)
		for range 50 {
			topic := randTopic()
			if got, want := idx.match(topic), linearMatch(rules, topic); got != want {
				t.Fatalf("round %d: match(%q) = %d; linear scan says %d\nfilters: %q", round, topic, got, want, filters)
			}
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("devices/{d}/telemetry/#\ndevices/+/x\n#", "devices/a/telemetry")
	f.Add("$SYS/#\n+/#", "$SYS/a")
	f.Add("a/\n/a\n+/+", "a/")
	f.Fuzz(func(t *testing.T, filters, topic string) {
		if validTopicName(topic) != nil {
			return
		}
		rules := rulesFromFilters(strings.Split(filters, "\n"))
		if got, want := buildIndex(rules).match(topic), linearMatch(rules, topic); got != want {
			t.Fatalf("match(%q) = %d; linear scan says %d; filters %q", topic, got, want, filters)
		}
	})
}
