package topics

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func retainedMatch(r *Retained[int], filter string) []string {
	var out []string
	r.Match(filter, func(topic string, v int) bool {
		out = append(out, fmt.Sprintf("%s=%d", topic, v))
		return true
	})
	slices.Sort(out)
	return out
}

func TestRetainedMatchTable(t *testing.T) {
	for _, c := range matchCases {
		r := NewRetained[int]()
		r.Set(c.topic, 1)
		got := retainedMatch(r, c.filter)
		if (len(got) == 1) != c.want || len(got) > 1 {
			t.Errorf("filter %q topic %q: Match = %v; want match %v", c.filter, c.topic, got, c.want)
		}
	}
}

// TestRetainedMatchAll stores every topic of the table in one trie and checks
// Match agrees with Matches for every filter of the table.
func TestRetainedMatchAll(t *testing.T) {
	r := NewRetained[int]()
	topicSet := map[string]int{}
	for i, c := range matchCases {
		topicSet[c.topic] = i
		r.Set(c.topic, i)
	}
	for _, c := range matchCases {
		var want []string
		for topic, v := range topicSet {
			if Matches(c.filter, topic) {
				want = append(want, fmt.Sprintf("%s=%d", topic, v))
			}
		}
		slices.Sort(want)
		if got := retainedMatch(r, c.filter); !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %v; want %v", c.filter, got, want)
		}
		if got := retainedMatch(r, "$share/g/"+c.filter); !slices.Equal(got, want) {
			t.Errorf("Match($share/g/%s) = %v; want %v", c.filter, got, want)
		}
	}
}

func TestRetainedSetGetDelete(t *testing.T) {
	r := NewRetained[string]()
	if !r.Set("a/b", "1") {
		t.Fatal("first Set not new")
	}
	if r.Set("a/b", "2") {
		t.Fatal("second Set reported new")
	}
	r.Set("a", "p")
	r.Set("a/b/c", "3")
	r.Set("$SYS/x", "s")
	if v, ok := r.Get("a/b"); !ok || v != "2" {
		t.Fatalf(`Get("a/b") = %q, %v; want "2", true`, v, ok)
	}
	if _, ok := r.Get("a/b/c/d"); ok {
		t.Fatal("Get of missing topic found")
	}
	if _, ok := r.Get("a/"); ok {
		t.Fatal(`Get("a/") found a value`)
	}
	if n := r.Len(); n != 4 {
		t.Fatalf("Len = %d; want 4", n)
	}
	if r.Delete("a/x") || r.Delete("a/b/c/d") {
		t.Fatal("Delete of missing topic = true")
	}
	if !r.Delete("a/b") {
		t.Fatal("Delete(a/b) = false")
	}
	if r.Delete("a/b") {
		t.Fatal("second Delete(a/b) = true")
	}
	// a/b has no value but still a child: Get must not find it.
	if _, ok := r.Get("a/b"); ok {
		t.Fatal("Get after Delete found a value")
	}
	if v, ok := r.Get("a/b/c"); !ok || v != "3" {
		t.Fatalf("Get(a/b/c) = %q, %v", v, ok)
	}
	for _, topic := range []string{"a", "a/b/c", "$SYS/x"} {
		if !r.Delete(topic) {
			t.Fatalf("Delete(%s) = false", topic)
		}
	}
	if n, nodes := r.Len(), r.nodeCount(); n != 0 || nodes != 0 {
		t.Fatalf("Len = %d, nodes = %d; want 0, 0", n, nodes)
	}
}

func TestRetainedMatchStopAndReenter(t *testing.T) {
	r := NewRetained[int]()
	for i := range 20 {
		r.Set(fmt.Sprintf("t/%d", i), i)
	}
	n := 0
	r.Match("t/+", func(string, int) bool { n++; return n < 5 })
	if n != 5 {
		t.Fatalf("Match did not stop: %d calls; want 5", n)
	}
	// fn may modify the trie (for example to drop expired messages).
	r.Match("#", func(topic string, _ int) bool {
		r.Delete(topic)
		return true
	})
	if r.Len() != 0 || r.nodeCount() != 0 {
		t.Fatalf("Len = %d, nodes = %d after deleting in Match", r.Len(), r.nodeCount())
	}
}

func TestRetainedConcurrent(t *testing.T) {
	r := NewRetained[int]()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				topic := fmt.Sprintf("d/%d/%d", w, i%50)
				r.Set(topic, i)
				if i%3 == 0 {
					r.Delete(topic)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 300 {
				r.Match(fmt.Sprintf("d/%d/+", w), func(string, int) bool { return true })
				r.Match("#", func(string, int) bool { return i%2 == 0 })
				r.Get(fmt.Sprintf("d/%d/%d", w, i%50))
			}
		}()
	}
	wg.Wait()
	r.Match("#", func(topic string, _ int) bool { r.Delete(topic); return true })
	if r.Len() != 0 || r.nodeCount() != 0 {
		t.Fatalf("Len = %d, nodes = %d", r.Len(), r.nodeCount())
	}
}
