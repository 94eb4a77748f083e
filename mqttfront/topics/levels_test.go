package topics

import "testing"

// matchCases is shared by the Matches, Index and Retained tests so the three
// implementations of the rules cannot drift apart.
var matchCases = []struct {
	filter, topic string
	want          bool
}{
	// exact
	{"a", "a", true},
	{"a", "b", false},
	{"a/b/c", "a/b/c", true},
	{"a/b/c", "a/b", false},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b/d", false},
	{"A", "a", false}, // no normalisation [MQTT-4.7.3-4]
	// empty levels are real levels
	{"/a", "/a", true},
	{"/a", "a", false},
	{"a//b", "a//b", true},
	{"a//b", "a/b", false},
	{"a/", "a/", true},
	{"a/", "a", false},
	{"/", "/", true},
	// '+' matches exactly one level, also an empty one [MQTT-4.7.1-2]
	{"+", "a", true},
	{"+", "a/b", false},
	{"+", "/a", false},
	{"+", "", true},
	{"+/+", "/a", true},
	{"+/+", "a/", true},
	{"+/+", "/", true},
	{"a/+", "a/b", true},
	{"a/+", "a/", true},
	{"a/+", "a", false},
	{"a/+", "a/b/c", false},
	{"a/+/c", "a/b/c", true},
	{"a/+/c", "a//c", true},
	{"a/+/c", "a/b/d", false},
	{"+/b/+", "a/b/c", true},
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	// '#' matches the parent level and any number of children [MQTT-4.7.1-2]
	{"#", "a", true},
	{"#", "a/b/c", true},
	{"#", "/", true},
	{"#", "/a", true},
	{"sport/#", "sport", true},
	{"sport/#", "sport/", true},
	{"sport/#", "sport/tennis", true},
	{"sport/#", "sport/tennis/player1/ranking", true},
	{"sport/#", "sports", false},
	{"sport/#", "spor", false},
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player2", false},
	{"a/+/#", "a/b", true},
	{"a/+/#", "a/b/c/d", true},
	{"a/+/#", "a", false},
	{"+/#", "a", true},
	{"/#", "/", true},
	{"/#", "/a/b", true},
	{"/#", "a", false},
	// '$' topics [MQTT-4.7.2-1]
	{"#", "$SYS", false},
	{"#", "$SYS/broker/clients", false},
	{"+", "$SYS", false},
	{"+/broker/#", "$SYS/broker", false},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"$SYS/+/Clients", "$SYS/monitor/Clients", true},
	{"a/#", "a/$b", true}, // the rule is about the first level only
	{"a/+", "a/$b", true},
	{"#", "a$", true},
	{"$", "$", true},
}

func TestMatches(t *testing.T) {
	for _, c := range matchCases {
		if got := Matches(c.filter, c.topic); got != c.want {
			t.Errorf("Matches(%q, %q) = %v; want %v", c.filter, c.topic, got, c.want)
		}
	}
}

func TestSplitShared(t *testing.T) {
	cases := []struct {
		in, group, inner string
		ok               bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/g/#", "g", "#", true},
		{"$share/g//", "g", "/", true},
		{"$share/g/", "", "$share/g/", false},
		{"$share//a", "", "$share//a", false},
		{"$share/g", "", "$share/g", false},
		{"$shared/g/a", "", "$shared/g/a", false},
		{"a/b", "", "a/b", false},
	}
	for _, c := range cases {
		g, in, ok := SplitShared(c.in)
		if g != c.group || in != c.inner || ok != c.ok {
			t.Errorf("SplitShared(%q) = %q, %q, %v; want %q, %q, %v", c.in, g, in, ok, c.group, c.inner, c.ok)
		}
	}
}

func TestNextLevelNoAlloc(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		s := "a/b//c/"
		for {
			_, r, more := nextLevel(s)
			if !more {
				break
			}
			s = r
		}
		_ = Matches("a/+/#", "a/b/c")
	})
	if allocs != 0 {
		t.Errorf("allocs = %v; want 0", allocs)
	}
}
