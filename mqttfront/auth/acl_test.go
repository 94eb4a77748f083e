package auth

import (
	"testing"
)

func mustACL(t *testing.T, c ACLConfig) *ACL {
	t.Helper()
	a, err := NewACL(c)
	if err != nil {
		t.Fatalf("NewACL: %v", err)
	}
	return a
}

const (
	pub = ActionPublish
	sub = ActionSubscribe
	rcv = ActionReceive
)

type aclCase struct {
	action              Action
	user, client, topic string
	want                bool
}

func runACL(t *testing.T, a *ACL, cases []aclCase) {
	t.Helper()
	for _, c := range cases {
		if got := a.Allow(c.action, c.user, c.client, c.topic); got != c.want {
			t.Errorf("Allow(%v, %q, %q, %q) = %v; want %v", c.action, c.user, c.client, c.topic, got, c.want)
		}
	}
}

func TestACLPatterns(t *testing.T) {
	a := mustACL(t, ACLConfig{
		NoMatch: "deny",
		Rules: []ACLRule{
			{Permission: "allow", Action: "all", Topics: []string{"devices/%c/#"}},
			{Permission: "allow", Action: "publish", Topics: []string{"users/%u/out", "tele/%u-%c/+"}},
			{Permission: "allow", Action: "subscribe", Topics: []string{"users/%u/in/+"}},
			{Permission: "allow", Action: "subscribe", Topics: []string{"public/#"}},
		},
	})
	runACL(t, a, []aclCase{
		// %c
		{pub, "", "c1", "devices/c1/telemetry", true},
		{pub, "", "c1", "devices/c1", true}, // "#" covers the parent level
		{pub, "", "c1", "devices/c2/telemetry", false},
		{pub, "", "c1", "devices/c1x/telemetry", false},
		{sub, "", "c1", "devices/c1/commands", true},
		{sub, "", "c1", "devices/c1/+", true},
		{sub, "", "c1", "devices/c1/#", true},
		{sub, "", "c1", "devices/c1/+/x/#", true},
		{sub, "", "c1", "devices/#", false},
		{sub, "", "c1", "devices/+/commands", false},
		{sub, "", "c1", "#", false},
		{sub, "", "c1", "$share/g/devices/c1/+", true},
		{sub, "", "c1", "$share/g/devices/#", false},
		// %u, never for anonymous clients
		{pub, "alice", "x", "users/alice/out", true},
		{pub, "alice", "x", "users/bob/out", false},
		{pub, "", "x", "users//out", false},
		{pub, "alice", "x", "tele/alice-x/temp", true},
		{pub, "alice", "x", "tele/alice-y/temp", false},
		{pub, "alice", "x", "tele/alicex/temp", false},
		{sub, "alice", "x", "users/alice/out", false}, // publish-only rule
		{sub, "alice", "x", "users/alice/in/a", true},
		{sub, "alice", "x", "users/alice/in/+", true},
		{sub, "alice", "x", "users/alice/in/#", false},
		{sub, "alice", "x", "users/alice/in", false},
		{sub, "alice", "x", "users/+/in/a", false},
		{pub, "alice", "x", "users/alice/in/a", false},
		// plain filter
		{sub, "", "x", "public/#", true},
		{sub, "", "x", "public", true},
		{sub, "", "x", "public/a/+", true},
		{pub, "", "x", "public/a", false},
		// no match -> deny
		{pub, "alice", "x", "other", false},
		{Action(0), "alice", "c1", "devices/c1/x", false},
	})
}

// TestACLReceive: the per-delivery check takes the subscribe rules and
// matches them against a topic name, so a deny inside a granted wildcard
// holds, %u/%c substitute, and a "$share/" topic name is not unwrapped.
func TestACLReceive(t *testing.T) {
	a := mustACL(t, ACLConfig{
		NoMatch: "allow",
		Rules: []ACLRule{
			{Permission: "deny", Action: "all", Username: "bob", Topics: []string{"secret/#"}},
			{Permission: "allow", Action: "subscribe", Topics: []string{"mail/%u/#", "dev/%c/+"}},
			{Permission: "deny", Action: "subscribe", Topics: []string{"mail/#", "dev/#"}},
			{Permission: "deny", Action: "publish", Topics: []string{"ro/#"}},
			{Permission: "deny", Action: "subscribe", Topics: []string{"$SYS/#"}},
		},
	})
	runACL(t, a, []aclCase{
		{sub, "bob", "b", "#", true}, // the SUBACK grants the wildcard...
		{rcv, "bob", "b", "secret/live", false},
		{rcv, "bob", "b", "secret", false}, // "#" covers the parent level
		{rcv, "bob", "b", "public/live", true},
		{rcv, "alice", "a", "secret/live", true},
		{rcv, "bob", "b", "mail/bob/1", true},
		{rcv, "bob", "b", "mail/alice/1", false},
		{rcv, "", "b", "mail//1", false}, // %u never matches anonymous
		{rcv, "bob", "b", "dev/b/x", true},
		{rcv, "bob", "b", "dev/b/x/y", false},
		{rcv, "bob", "b", "dev/c/x", false},
		{rcv, "bob", "b", "ro/x", true}, // a publish-only rule does not apply
		{rcv, "bob", "b", "$SYS/broker/uptime", false},
		{rcv, "bob", "b", "$share/g/secret/x", true}, // a topic name, not a shared filter
	})
	if a.AllowsAll() {
		t.Errorf("AllowsAll() = true with rules; want false")
	}
	if !mustACL(t, ACLConfig{NoMatch: "allow"}).AllowsAll() {
		t.Errorf("AllowsAll() = false without rules, no_match allow; want true")
	}
	if mustACL(t, ACLConfig{NoMatch: "deny"}).AllowsAll() {
		t.Errorf("AllowsAll() = true with no_match deny; want false")
	}
}

func TestACLOrderAndNoMatch(t *testing.T) {
	rules := []ACLRule{
		{Permission: "deny", Action: "publish", Topics: []string{"devices/+/config"}},
		{Permission: "deny", Action: "all", Username: "mallory", Topics: []string{"#"}},
		{Permission: "allow", Action: "all", Topics: []string{"devices/#"}},
		{Permission: "allow", Action: "subscribe", ClientID: "admin", Topics: []string{"#", "$SYS/#"}},
		{Permission: "deny", Action: "all", Topics: []string{"devices/c1/x"}}, // shadowed by the allow above
	}
	allowAll := mustACL(t, ACLConfig{Rules: rules}) // no_match defaults to allow
	denyAll := mustACL(t, ACLConfig{NoMatch: "deny", Rules: rules})
	cases := []struct {
		aclCase
		wantDeny bool // result under no_match deny
	}{
		{aclCase{pub, "u", "c1", "devices/c1/config", false}, false}, // deny before allow
		{aclCase{sub, "u", "c1", "devices/c1/config", true}, true},   // deny was publish only
		{aclCase{pub, "u", "c1", "devices/c1/x", true}, true},        // first match wins
		{aclCase{pub, "mallory", "c1", "devices/c1/x", false}, false},
		{aclCase{pub, "mallory", "c1", "elsewhere", false}, false},
		{aclCase{pub, "u", "c1", "elsewhere", true}, false}, // no match
		{aclCase{sub, "u", "admin", "elsewhere/#", true}, true},
		{aclCase{sub, "u", "admin", "#", true}, true},
		{aclCase{sub, "u", "admin", "$SYS/broker/+", true}, true},
		{aclCase{sub, "u", "c2", "#", true}, false}, // devices/# does not cover #
		// "#" does not cover $ filters [MQTT-4.7.2-1]; the $SYS/# topic of the same rule does.
		{aclCase{sub, "u", "admin", "$other/x", true}, false},
		{aclCase{pub, "u", "c1", "$SYS/x", true}, false},
	}
	for _, c := range cases {
		runACL(t, allowAll, []aclCase{c.aclCase})
		d := c.aclCase
		d.want = c.wantDeny
		runACL(t, denyAll, []aclCase{d})
	}
}

func TestACLDollarTopics(t *testing.T) {
	a := mustACL(t, ACLConfig{NoMatch: "deny", Rules: []ACLRule{
		{Permission: "allow", Action: "all", Topics: []string{"#", "+/x"}},
	}})
	runACL(t, a, []aclCase{
		{pub, "", "c", "a/b", true},
		{pub, "", "c", "$SYS/b", false},
		{pub, "", "c", "$x", false},
		{sub, "", "c", "$SYS/#", false},
		{sub, "", "c", "+/x", true},
		{sub, "", "c", "$SYS/x", false},
	})
}

// TestACLSpecialValues checks user names and client ids holding filter
// characters: allow patterns do not match '+' or '#', deny patterns are
// substituted literally, '/' just spans levels.
func TestACLSpecialValues(t *testing.T) {
	a := mustACL(t, ACLConfig{NoMatch: "deny", Rules: []ACLRule{
		{Permission: "deny", Action: "subscribe", Topics: []string{"secret/%c"}},
		{Permission: "allow", Action: "all", Topics: []string{"home/%u/#"}},
		{Permission: "allow", Action: "subscribe", Username: "ops", Topics: []string{"secret/#"}},
	}})
	runACL(t, a, []aclCase{
		{sub, "+", "c", "home/+/#", false},
		{sub, "#", "c", "home/#", false},
		{pub, "a+b", "c", "home/a+b/x", false},
		{sub, "org/dev", "c", "home/org/dev/x", true},
		{sub, "org/dev", "c", "home/org/+", false},
		{pub, "org/dev", "c", "home/org/dev", true},
		{sub, "ops", "c1", "secret/c1", false},
		{sub, "ops", "c1", "secret/c2", true},
		// a client id of "+" is denied secret/+ (the broader deny), not let through
		{sub, "ops", "+", "secret/+", false},
		{sub, "ops", "+", "secret/c2", false},
		{sub, "ops", "#", "secret/c2", false},
	})
}

func TestLevelEq(t *testing.T) {
	cases := []struct {
		tmpl, u, c, l string
		want          bool
	}{
		{"%u", "bob", "", "bob", true},
		{"%u", "bob", "", "bo", false},
		{"%u", "bob", "", "bobby", false},
		{"x-%u-%c", "bob", "c9", "x-bob-c9", true},
		{"x-%u-%c", "bob", "c9", "x-bob-c", false},
		{"%c%c", "", "ab", "abab", true},
		{"%x", "u", "c", "%x", true},
		{"%", "u", "c", "%", true},
		{"plain", "u", "c", "plain", true},
	}
	for _, c := range cases {
		if got := levelEq(c.tmpl, c.u, c.c, true, c.l); got != c.want {
			t.Errorf("levelEq(%q, %q, %q, %q) = %v; want %v", c.tmpl, c.u, c.c, c.l, got, c.want)
		}
	}
}

func TestACLAllowNoAlloc(t *testing.T) {
	a := mustACL(t, ACLConfig{NoMatch: "deny", Rules: []ACLRule{
		{Permission: "deny", Action: "publish", Topics: []string{"devices/+/config"}},
		{Permission: "allow", Action: "all", Topics: []string{"devices/%c/#", "users/%u/#"}},
	}})
	allocs := testing.AllocsPerRun(100, func() {
		if !a.Allow(ActionPublish, "alice", "c1", "users/alice/t") {
			t.Fatal("denied")
		}
		if !a.Allow(ActionSubscribe, "alice", "c1", "$share/g/devices/c1/+") {
			t.Fatal("denied")
		}
	})
	if allocs != 0 {
		t.Errorf("allocs = %v; want 0", allocs)
	}
}

func BenchmarkACLAllow(b *testing.B) {
	a, err := NewACL(ACLConfig{NoMatch: "deny", Rules: []ACLRule{
		{Permission: "deny", Action: "publish", Topics: []string{"devices/+/config"}},
		{Permission: "deny", Action: "all", Username: "mallory", Topics: []string{"#"}},
		{Permission: "allow", Action: "subscribe", ClientID: "admin", Topics: []string{"#"}},
		{Permission: "allow", Action: "all", Topics: []string{"users/%u/#"}},
		{Permission: "allow", Action: "all", Topics: []string{"devices/%c/#"}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !a.Allow(ActionPublish, "alice", "dev-12345", "devices/dev-12345/telemetry") {
			b.Fatal("denied")
		}
	}
}
