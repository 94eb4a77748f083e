package topics

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// keys renders subscriptions as sorted "client|filter" strings for comparison.
func keys(subs []Sub) []string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.ClientID + "|" + s.Filter
	}
	slices.Sort(out)
	return out
}

func TestIndexMatchTable(t *testing.T) {
	for _, c := range matchCases {
		ix := NewIndex()
		ix.Add(Sub{ClientID: "c", Filter: c.filter})
		ix.Add(Sub{ClientID: "s", Filter: "$share/g/" + c.filter})
		got := ix.Match(c.topic, nil)
		want := 0
		if c.want {
			want = 2
		}
		if len(got) != want {
			t.Errorf("filter %q topic %q: Match = %v; want %d entries", c.filter, c.topic, keys(got), want)
		}
	}
}

// TestIndexMatchAll puts every filter of the table in one index and checks
// that Match agrees with Matches for every topic of the table.
func TestIndexMatchAll(t *testing.T) {
	ix := NewIndex()
	filters := map[string]bool{}
	for _, c := range matchCases {
		filters[c.filter] = true
	}
	for f := range filters {
		ix.Add(Sub{ClientID: "c", Filter: f})
		ix.Add(Sub{ClientID: "s", Filter: "$share/grp/" + f, QoS: 1})
	}
	for _, c := range matchCases {
		var want []Sub
		for f := range filters {
			if Matches(f, c.topic) {
				want = append(want, Sub{ClientID: "c", Filter: f}, Sub{ClientID: "s", Filter: "$share/grp/" + f})
			}
		}
		got := ix.Match(c.topic, nil)
		if g, w := keys(got), keys(want); !slices.Equal(g, w) {
			t.Errorf("Match(%q) = %v; want %v", c.topic, g, w)
		}
		for _, s := range got {
			if strings.HasPrefix(s.Filter, "$share/") != (s.Group == "grp") {
				t.Errorf("Match(%q): sub %+v has wrong Group", c.topic, s)
			}
		}
	}
}

func TestIndexAddReplaceRemove(t *testing.T) {
	ix := NewIndex()
	if ix.Add(Sub{ClientID: "c1", Filter: "a/+", QoS: 0}) {
		t.Fatal("first Add reported replaced")
	}
	// [MQTT-3.8.4-3] same client and filter replaces, keeping one entry.
	if !ix.Add(Sub{ClientID: "c1", Filter: "a/+", QoS: 2, ID: 7}) {
		t.Fatal("second Add did not report replaced")
	}
	got := ix.Match("a/b", nil)
	if len(got) != 1 || got[0].QoS != 2 || got[0].ID != 7 {
		t.Fatalf("Match after replace = %+v; want one sub with QoS 2, ID 7", got)
	}
	ix.Add(Sub{ClientID: "c2", Filter: "a/+"})
	ix.Add(Sub{ClientID: "c1", Filter: "a/#"})
	ix.Add(Sub{ClientID: "c1", Filter: "$share/g1/a/+"})
	ix.Add(Sub{ClientID: "c2", Filter: "$share/g1/a/+"})
	ix.Add(Sub{ClientID: "c3", Filter: "$share/g2/a/+"})
	if n := ix.Len(); n != 6 {
		t.Fatalf("Len = %d; want 6", n)
	}
	want := []string{"c1|$share/g1/a/+", "c1|a/#", "c1|a/+", "c2|$share/g1/a/+", "c2|a/+", "c3|$share/g2/a/+"}
	if got := keys(ix.Match("a/b", nil)); !slices.Equal(got, want) {
		t.Fatalf("Match = %v; want %v", got, want)
	}
	if got := keys(ix.ClientSubs("c1")); !slices.Equal(got, []string{"c1|$share/g1/a/+", "c1|a/#", "c1|a/+"}) {
		t.Fatalf("ClientSubs(c1) = %v", got)
	}
	for _, s := range ix.ClientSubs("c1") {
		if s.Filter == "$share/g1/a/+" && s.Group != "g1" {
			t.Errorf("shared sub Group = %q; want g1", s.Group)
		}
	}

	if ix.Remove("c1", "a/b") {
		t.Error("Remove of unknown filter = true")
	}
	if ix.Remove("nobody", "a/+") {
		t.Error("Remove of unknown client = true")
	}
	if !ix.Remove("c1", "$share/g1/a/+") {
		t.Error("Remove shared = false")
	}
	if ix.Remove("c1", "$share/g1/a/+") {
		t.Error("second Remove shared = true")
	}
	if n := ix.RemoveClient("c1"); n != 2 {
		t.Errorf("RemoveClient(c1) = %d; want 2", n)
	}
	if n := ix.RemoveClient("c1"); n != 0 {
		t.Errorf("second RemoveClient(c1) = %d; want 0", n)
	}
	if got := keys(ix.Match("a/b", nil)); !slices.Equal(got, []string{"c2|$share/g1/a/+", "c2|a/+", "c3|$share/g2/a/+"}) {
		t.Fatalf("Match after removals = %v", got)
	}
	if ix.ClientSubs("c1") != nil {
		t.Error("ClientSubs of removed client not nil")
	}
	ix.RemoveClient("c2")
	ix.Remove("c3", "$share/g2/a/+")
	if n, nodes := ix.Len(), ix.nodeCount(); n != 0 || nodes != 0 {
		t.Fatalf("after removing all: Len = %d, nodes = %d; want 0, 0", n, nodes)
	}
	if len(ix.clients) != 0 || !ix.root.empty() {
		t.Fatal("root not empty after removing all")
	}
}

func TestIndexPruneMany(t *testing.T) {
	ix := NewIndex()
	filters := []string{"a/b/c", "a/b/#", "a/+/c", "+/+/+", "#", "/", "a//b", "$SYS/#", "x/y/z/w"}
	for i := range 50 {
		for _, f := range filters {
			ix.Add(Sub{ClientID: fmt.Sprint("c", i), Filter: f})
			ix.Add(Sub{ClientID: fmt.Sprint("c", i), Filter: "$share/g/" + f})
		}
	}
	if n := ix.Len(); n != 50*len(filters)*2 {
		t.Fatalf("Len = %d", n)
	}
	// Remove in an order different from insertion, half via Remove.
	for i := 49; i >= 0; i-- {
		id := fmt.Sprint("c", i)
		if i%2 == 0 {
			if n := ix.RemoveClient(id); n != len(filters)*2 {
				t.Fatalf("RemoveClient(%s) = %d", id, n)
			}
			continue
		}
		for _, f := range filters {
			if !ix.Remove(id, "$share/g/"+f) || !ix.Remove(id, f) {
				t.Fatalf("Remove(%s, %s) = false", id, f)
			}
		}
	}
	if n, nodes := ix.Len(), ix.nodeCount(); n != 0 || nodes != 0 {
		t.Fatalf("Len = %d, nodes = %d; want 0, 0", n, nodes)
	}
}

func TestIndexWalk(t *testing.T) {
	ix := NewIndex()
	for i := range 10 {
		ix.Add(Sub{ClientID: fmt.Sprint("c", i), Filter: "t/" + fmt.Sprint(i)})
	}
	seen := 0
	ix.Walk(func(s Sub) bool {
		seen++
		ix.Remove(s.ClientID, s.Filter) // fn may call back into the index
		return true
	})
	if seen != 10 || ix.Len() != 0 {
		t.Fatalf("Walk saw %d, Len after = %d; want 10, 0", seen, ix.Len())
	}
	for i := range 10 {
		ix.Add(Sub{ClientID: fmt.Sprint("c", i), Filter: "t"})
	}
	seen = 0
	ix.Walk(func(Sub) bool { seen++; return seen < 3 })
	if seen != 3 {
		t.Fatalf("Walk did not stop: saw %d; want 3", seen)
	}
}

func TestIndexMatchReusesDst(t *testing.T) {
	ix := NewIndex()
	ix.Add(Sub{ClientID: "a", Filter: "d/+/t"})
	ix.Add(Sub{ClientID: "b", Filter: "d/#"})
	ix.Add(Sub{ClientID: "c", Filter: "d/1/t"})
	dst := make([]Sub, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		dst = ix.Match("d/1/t", dst[:0])
	})
	if allocs != 0 || len(dst) != 3 {
		t.Fatalf("allocs = %v, len = %d; want 0, 3", allocs, len(dst))
	}
}

func TestIndexConcurrent(t *testing.T) {
	ix := NewIndex()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 500 {
				id := fmt.Sprintf("w%d-%d", w, i%20)
				ix.Add(Sub{ClientID: id, Filter: fmt.Sprintf("d/%d/+", i%7)})
				ix.Add(Sub{ClientID: id, Filter: "$share/g/d/#"})
				if i%3 == 0 {
					ix.Remove(id, fmt.Sprintf("d/%d/+", i%7))
				}
				if i%11 == 0 {
					ix.RemoveClient(id)
				}
			}
		}()
		go func() {
			defer wg.Done()
			var dst []Sub
			for i := range 500 {
				dst = ix.Match(fmt.Sprintf("d/%d/x", i%7), dst[:0])
				_ = ix.Len()
				_ = ix.ClientSubs(fmt.Sprintf("w%d-%d", w, i%20))
			}
		}()
	}
	wg.Wait()
	for w := range 4 {
		for i := range 20 {
			ix.RemoveClient(fmt.Sprintf("w%d-%d", w, i))
		}
	}
	if n, nodes := ix.Len(), ix.nodeCount(); n != 0 || nodes != 0 {
		t.Fatalf("Len = %d, nodes = %d; want 0, 0", n, nodes)
	}
}

func TestIndexClientLen(t *testing.T) {
	ix := NewIndex()
	for _, f := range []string{"a/b", "$share/g/a/#", "c"} {
		ix.Add(Sub{ClientID: "c1", Filter: f})
	}
	ix.Add(Sub{ClientID: "c2", Filter: "a/b"})
	tests := []struct {
		client, filter string
		n              int
		has            bool
	}{
		{"c1", "a/b", 3, true},
		{"c1", "$share/g/a/#", 3, true},
		{"c1", "a/#", 3, false},
		{"c2", "c", 1, false},
		{"none", "a/b", 0, false},
	}
	for _, tt := range tests {
		if n, has := ix.ClientLen(tt.client, tt.filter); n != tt.n || has != tt.has {
			t.Errorf("ClientLen(%q, %q) = %d, %v; want %d, %v", tt.client, tt.filter, n, has, tt.n, tt.has)
		}
	}
}
