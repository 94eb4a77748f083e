package auth

import (
	"strings"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// Action is what a client asks to do with a topic.
type Action int

// The actions the ACL decides on.
const (
	ActionPublish Action = iota + 1
	ActionSubscribe
	// ActionReceive asks whether a message with this topic name may be
	// delivered to the client (Mosquitto's read check). It is decided by
	// the rules whose action is subscribe or all, matched against the topic
	// name as for a publish; the broker asks it on every delivery, so a
	// granted wildcard subscription does not carry what a deny forbids.
	ActionReceive
)

func (a Action) String() string {
	switch a {
	case ActionPublish:
		return ActionNamePublish
	case ActionSubscribe:
		return ActionNameSubscribe
	case ActionReceive:
		return "receive"
	default:
		return "unknown"
	}
}

// ACL is a compiled, immutable rule list. It is safe for concurrent use.
type ACL struct {
	noMatchAllow bool
	rules        []rule
}

type rule struct {
	allow    bool
	publish  bool
	sub      bool
	username string
	clientID string
	patterns []pattern
}

// pattern is one topic filter of a rule, possibly with %u / %c.
type pattern struct {
	filter string
	hasU   bool
	hasC   bool
}

// NewACL validates c and compiles it.
func NewACL(c ACLConfig) (*ACL, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	a := &ACL{noMatchAllow: c.NoMatch != NoMatchDeny, rules: make([]rule, len(c.Rules))}
	for i, r := range c.Rules {
		cr := rule{
			allow:    r.Permission == PermissionAllow,
			publish:  r.Action == ActionNamePublish || r.Action == ActionNameAll,
			sub:      r.Action == ActionNameSubscribe || r.Action == ActionNameAll,
			username: r.Username,
			clientID: r.ClientID,
		}
		for _, t := range r.Topics {
			cr.patterns = append(cr.patterns, pattern{
				filter: t,
				hasU:   strings.Contains(t, "%u"),
				hasC:   strings.Contains(t, "%c"),
			})
		}
		a.rules[i] = cr
	}
	return a, nil
}

// Allow decides whether the client may publish to a topic name
// (ActionPublish), subscribe to a topic filter (ActionSubscribe) or be
// sent a message with a topic name (ActionReceive, by the subscribe
// rules). Rules
// are tried in order and the first whose action, user name, client id and
// one of whose topics match decides; with no match the no_match setting
// decides.
//
// For a publish, the rule's filter must match the topic. For a subscribe,
// the rule's filter must cover the requested filter: every topic the
// requested filter can match must be matched by the rule's filter, so
// "devices/%c/#" allows "devices/c1/+" but not "devices/#". A shared
// subscription ($share/{group}/{filter}) is checked by its inner filter.
//
// %u and %c in a rule's topics are replaced by username and clientID. A
// topic with %u never matches an anonymous client (username ""), and one
// with %c never matches an empty client id. A user name or client id that
// contains '+' or '#' would turn the substituted filter into a broader
// wildcard: allow topics then do not match it (as in Mosquitto), while
// deny topics are substituted literally, so such a client is denied at
// least as much as anyone else.
func (a *ACL) Allow(action Action, username, clientID, topicOrFilter string) bool {
	// sub selects the rules (subscribe/all); cover selects the filter-covers-
	// filter test rather than filter-matches-name.
	sub := action == ActionSubscribe || action == ActionReceive
	cover := action == ActionSubscribe
	if !sub && action != ActionPublish {
		return false
	}
	if cover {
		if _, inner, ok := topics.SplitShared(topicOrFilter); ok {
			topicOrFilter = inner
		}
	}
	for i := range a.rules {
		r := &a.rules[i]
		if (sub && !r.sub) || (!sub && !r.publish) ||
			(r.username != "" && r.username != username) ||
			(r.clientID != "" && r.clientID != clientID) {
			continue
		}
		for j := range r.patterns {
			if r.patterns[j].match(cover, r.allow, username, clientID, topicOrFilter) {
				return r.allow
			}
		}
	}
	return a.noMatchAllow
}

// AllowsAll reports whether a allows every action on every topic (no rules,
// no_match allow), so a caller may skip asking.
func (a *ACL) AllowsAll() bool { return len(a.rules) == 0 && a.noMatchAllow }

// match applies one pattern. Substitution is done level by level without
// building a string, unless a value holds '/', '+' or '#' (rare), which
// changes the level structure; then the filter is expanded.
func (p *pattern) match(cover, allow bool, u, c, t string) bool {
	if (p.hasU && u == "") || (p.hasC && c == "") {
		return false
	}
	if !p.hasU && !p.hasC {
		return matchFilter(cover, p.filter, "", "", false, t)
	}
	uSpecial := p.hasU && strings.ContainsAny(u, "/+#")
	cSpecial := p.hasC && strings.ContainsAny(c, "/+#")
	if !uSpecial && !cSpecial {
		return matchFilter(cover, p.filter, u, c, true, t)
	}
	if allow && ((p.hasU && strings.ContainsAny(u, "+#")) || (p.hasC && strings.ContainsAny(c, "+#"))) {
		return false
	}
	f := strings.ReplaceAll(strings.ReplaceAll(p.filter, "%u", u), "%c", c)
	return matchFilter(cover, f, "", "", false, t)
}

// matchFilter reports whether filter f (with %u/%c substituted by u and c
// when subst) matches topic name t (!cover) or covers filter t (cover).
func matchFilter(cover bool, f, u, c string, subst bool, t string) bool {
	// [MQTT-4.7.2-1] a first-level wildcard does not match '$' topics, so
	// it neither allows publishing to them nor covers filters on them.
	if len(t) > 0 && t[0] == '$' && len(f) > 0 && (f[0] == '+' || f[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(f, "/")
		if fl == "#" && !fmore {
			return true // [MQTT-4.7.1-2] covers this level and all below
		}
		tl, trest, tmore := strings.Cut(t, "/")
		switch {
		case fl == "+":
			// One level: any topic level, or a '+' in a filter, but not
			// '#' in a filter (which spans several levels).
			if cover && tl == "#" {
				return false
			}
		case !levelEq(fl, u, c, subst, tl):
			// A literal level covers only the same literal: a
			// wildcard level in t is broader and is not covered.
			return false
		}
		switch {
		case fmore && tmore:
			f, t = frest, trest
		case !fmore && !tmore:
			return true
		case fmore:
			// t ended: "a/#" still matches "a". [MQTT-4.7.1-2]
			return frest == "#"
		default:
			return false
		}
	}
}

// levelEq reports whether the filter level tmpl, with %u and %c replaced by
// u and c when subst, equals the level l. It does not allocate.
func levelEq(tmpl, u, c string, subst bool, l string) bool {
	if !subst {
		return tmpl == l
	}
	for len(tmpl) > 0 {
		if len(tmpl) >= 2 && tmpl[0] == '%' && (tmpl[1] == 'u' || tmpl[1] == 'c') {
			v := u
			if tmpl[1] == 'c' {
				v = c
			}
			if !strings.HasPrefix(l, v) {
				return false
			}
			l, tmpl = l[len(v):], tmpl[2:]
			continue
		}
		if len(l) == 0 || l[0] != tmpl[0] {
			return false
		}
		l, tmpl = l[1:], tmpl[1:]
	}
	return l == ""
}
