package mapping

import "fmt"

// Explanation is the dry run of one publish through the uplink rules, for
// `mqtt-kafka-bridge explain`. The partition is left to the caller.
type Explanation struct {
	Outcome  Outcome
	Rule     string    // the rule that matched; "" when none did
	Captures []Capture // the matched rule's captures, in filter order
	Record   Record    // exactly what Uplink returns (empty for Unmatched)
	Checks   []Check   // every uplink rule, in match order
}

// Capture is one named capture and the topic level it took.
type Capture struct {
	Name, Value string
}

// Check says whether one uplink rule matched and, if not, why not.
type Check struct {
	Rule    string
	Filter  string
	Matched bool   // the filter matches the topic
	Why     string // "matched", "shadowed by ...", or the first mismatch
}

// Explain runs p through the uplink rules the way Uplink does and reports
// every rule's verdict. It is slow (a linear scan) and meant for tooling.
func (r *Rules) Explain(p *Publish) Explanation {
	var ex Explanation
	ex.Record, ex.Outcome = r.Uplink(p)
	first := -1
	for i := range r.uplink {
		rule := &r.uplink[i]
		c := Check{Rule: rule.name, Filter: rule.filter.raw}
		c.Matched, c.Why = rule.filter.explain(p.Topic)
		if c.Matched {
			if first < 0 {
				first = i
				c.Why = "matched"
			} else {
				c.Why = fmt.Sprintf("matches, but rule %q comes first", r.uplink[first].name)
			}
		}
		ex.Checks = append(ex.Checks, c)
	}
	if first >= 0 {
		rule := &r.uplink[first]
		ex.Rule = rule.name
		caps, _ := rule.filter.match(p.Topic, nil)
		for j, v := range caps {
			ex.Captures = append(ex.Captures, Capture{Name: rule.filter.captures[j], Value: v})
		}
	}
	return ex
}

// explain reports whether topic matches the filter and, if not, the first
// reason it does not.
func (f *filter) explain(topic string) (bool, string) {
	if len(topic) > 0 && topic[0] == '$' && f.wildcardFirst() {
		return false, "a filter starting with a wildcard does not match a topic starting with '$'"
	}
	pos := 0
	for i, l := range f.levels {
		if l.kind == levelHash {
			return true, ""
		}
		if pos > len(topic) {
			return false, fmt.Sprintf("the topic has %d levels; the filter needs at least %d", i, countLevels(f))
		}
		level, next := nextLevel(topic, pos)
		if l.kind == levelLiteral && level != l.text {
			return false, fmt.Sprintf("level %d is %q, not %q", i+1, level, l.text)
		}
		pos = next
	}
	if pos <= len(topic) {
		return false, fmt.Sprintf("the topic has more than %d levels and the filter does not end in '#'", len(f.levels))
	}
	return true, ""
}

// countLevels is the number of levels a topic needs to match f, not counting '#'.
func countLevels(f *filter) int {
	n := len(f.levels)
	if f.levels[n-1].kind == levelHash {
		n--
	}
	return n
}
