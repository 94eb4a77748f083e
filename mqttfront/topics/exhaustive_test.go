package topics

import (
	"slices"
	"strings"
	"testing"
)

// refMatch is a deliberately plain reference implementation of the
// matching rules, written from the spec text with strings.Split, to check
// Matches and the tries against.
func refMatch(filter, topic string) bool {
	f := strings.Split(filter, "/")
	t := strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (f[0] == "+" || f[0] == "#") {
		return false // [MQTT-4.7.2-1]
	}
	for i, fl := range f {
		if fl == "#" {
			return i == len(f)-1 // matches the parent and any children
		}
		if i >= len(t) || (fl != "+" && fl != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}

// levelSeqs returns every '/'-joined sequence of 1..depth levels from alphabet.
func levelSeqs(alphabet []string, depth int) []string {
	var out []string
	prev := []string{""}
	for d := 1; d <= depth; d++ {
		var next []string
		for _, p := range prev {
			for _, l := range alphabet {
				if d == 1 {
					next = append(next, l)
				} else {
					next = append(next, p+"/"+l)
				}
			}
		}
		out = append(out, next...)
		prev = next
	}
	return out
}

func validFilterForTest(f string) bool {
	if f == "" {
		return false // [MQTT-4.7.3-1] filters are at least one character
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if l == "#" && i != len(levels)-1 {
			return false
		}
	}
	return true
}

// TestExhaustive compares Matches, Index.Match and Retained.Match with
// refMatch for every small filter and topic over an alphabet that has empty
// levels and '$' levels.
func TestExhaustive(t *testing.T) {
	var filters []string
	for _, f := range levelSeqs([]string{"a", "", "$s", "+", "#"}, 3) {
		if validFilterForTest(f) {
			filters = append(filters, f)
		}
	}
	topicList := levelSeqs([]string{"a", "", "$s", "b"}, 4)

	ix := NewIndex()
	rt := NewRetained[int]()
	for _, f := range filters {
		ix.Add(Sub{ClientID: "c", Filter: f})
		ix.Add(Sub{ClientID: "s", Filter: "$share/g/" + f})
	}
	for i, tp := range topicList {
		rt.Set(tp, i)
	}
	for _, tp := range topicList {
		var want []string
		for _, f := range filters {
			ok := refMatch(f, tp)
			if got := Matches(f, tp); got != ok {
				t.Errorf("Matches(%q, %q) = %v; want %v", f, tp, got, ok)
			}
			if ok {
				want = append(want, "c|"+f, "s|$share/g/"+f)
			}
		}
		slices.Sort(want)
		if got := keys(ix.Match(tp, nil)); !slices.Equal(got, want) {
			t.Errorf("Index.Match(%q) = %v; want %v", tp, got, want)
		}
	}
	for _, f := range filters {
		var want []string
		for _, tp := range topicList {
			if refMatch(f, tp) {
				want = append(want, tp)
			}
		}
		var got []string
		rt.Match(f, func(tp string, _ int) bool { got = append(got, tp); return true })
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("Retained.Match(%q) = %v; want %v", f, got, want)
		}
	}
	for _, f := range filters {
		ix.Remove("c", f)
		ix.Remove("s", "$share/g/"+f)
	}
	for _, tp := range topicList {
		rt.Delete(tp)
	}
	if ix.Len() != 0 || ix.nodeCount() != 0 || rt.Len() != 0 || rt.nodeCount() != 0 {
		t.Fatalf("not empty after removing everything: index %d/%d, retained %d/%d",
			ix.Len(), ix.nodeCount(), rt.Len(), rt.nodeCount())
	}
}

// FuzzMatch checks Matches, Index.Match and Retained.Match against refMatch
// on arbitrary filters and topics. Run with
// go test -run XXX -fuzz FuzzMatch ./mqttfront/topics/
func FuzzMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.filter, c.topic)
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if !validFilterForTest(filter) || strings.ContainsAny(topic, "+#") || strings.HasPrefix(filter, sharePrefix) {
			return // the index reads a $share prefix; refMatch does not
		}
		for _, l := range strings.Split(filter, "/") {
			if l != "+" && l != "#" && strings.ContainsAny(l, "+#") {
				return // invalid filter: wildcard inside a level
			}
		}
		want := refMatch(filter, topic)
		if got := Matches(filter, topic); got != want {
			t.Fatalf("Matches(%q, %q) = %v; want %v", filter, topic, got, want)
		}
		ix := NewIndex()
		ix.Add(Sub{ClientID: "c", Filter: filter})
		if got := len(ix.Match(topic, nil)) == 1; got != want {
			t.Fatalf("Index.Match: filter %q topic %q = %v; want %v", filter, topic, got, want)
		}
		ix.Remove("c", filter)
		if ix.nodeCount() != 0 {
			t.Fatalf("nodes left after Remove(%q)", filter)
		}
		r := NewRetained[int]()
		r.Set(topic, 1)
		got := false
		r.Match(filter, func(string, int) bool { got = true; return true })
		if got != want {
			t.Fatalf("Retained.Match: filter %q topic %q = %v; want %v", filter, topic, got, want)
		}
		r.Delete(topic)
		if r.nodeCount() != 0 {
			t.Fatalf("nodes left after Delete(%q)", topic)
		}
	})
}
