package topics

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestIndexModel applies a long random sequence of Add, Remove and
// RemoveClient to the index and to a plain map, and compares Match,
// ClientSubs and Len with the model after every step. Few clients and
// filters, many operations: nodes and clients cross the smallMax threshold
// between slice and map in both directions.
func TestIndexModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var filters []string
	for _, f := range []string{"a", "a/b", "a/+", "a/#", "+/b", "#", "/", "a//b", "$s/#", "+"} {
		filters = append(filters, f, "$share/g1/"+f, "$share/g2/"+f)
	}
	for i := range 30 {
		filters = append(filters, fmt.Sprintf("k/%d", i)) // many literal children of k
	}
	topicList := []string{"a", "a/b", "a/c", "b", "/", "a//b", "$s/x", "k/3", "k/29", "k/x"}
	clients := make([]string, 40)
	for i := range clients {
		clients[i] = fmt.Sprint("c", i)
	}
	model := map[[2]string]byte{} // (client, filter) -> QoS

	ix := NewIndex()
	for step := range 20000 {
		c := clients[rng.IntN(len(clients))]
		f := filters[rng.IntN(len(filters))]
		switch op := rng.IntN(100); {
		case op < 60:
			q := byte(rng.IntN(3))
			_, had := model[[2]string{c, f}]
			if got := ix.Add(Sub{ClientID: c, Filter: f, QoS: q}); got != had {
				t.Fatalf("step %d: Add(%s, %s) replaced = %v; want %v", step, c, f, got, had)
			}
			model[[2]string{c, f}] = q
		case op < 97:
			_, had := model[[2]string{c, f}]
			if got := ix.Remove(c, f); got != had {
				t.Fatalf("step %d: Remove(%s, %s) = %v; want %v", step, c, f, got, had)
			}
			delete(model, [2]string{c, f})
		default:
			want := 0
			for k := range model {
				if k[0] == c {
					delete(model, k)
					want++
				}
			}
			if got := ix.RemoveClient(c); got != want {
				t.Fatalf("step %d: RemoveClient(%s) = %d; want %d", step, c, got, want)
			}
		}
		if ix.Len() != len(model) {
			t.Fatalf("step %d: Len = %d; want %d", step, ix.Len(), len(model))
		}
		if step%50 != 0 {
			continue
		}
		for _, tp := range topicList {
			var want []string
			for k, q := range model {
				_, inner, _ := SplitShared(k[1])
				if Matches(inner, tp) {
					want = append(want, fmt.Sprintf("%s|%s|%d", k[0], k[1], q))
				}
			}
			var got []string
			for _, s := range ix.Match(tp, nil) {
				got = append(got, fmt.Sprintf("%s|%s|%d", s.ClientID, s.Filter, s.QoS))
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: Match(%q) = %v; want %v", step, tp, got, want)
			}
		}
		var want []string
		for k := range model {
			if k[0] == c {
				want = append(want, c+"|"+k[1])
			}
		}
		slices.Sort(want)
		if got := keys(ix.ClientSubs(c)); !slices.Equal(got, want) {
			t.Fatalf("step %d: ClientSubs(%s) = %v; want %v", step, c, got, want)
		}
	}
	for _, c := range clients {
		ix.RemoveClient(c)
	}
	if ix.Len() != 0 || ix.nodeCount() != 0 {
		t.Fatalf("Len = %d, nodes = %d after removing all", ix.Len(), ix.nodeCount())
	}
}

// TestRetainedModel is TestIndexModel for the retained trie.
func TestRetainedModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var topicList []string
	for _, p := range []string{"a", "a/b", "a/b/c", "", "/", "a//b", "$s", "$s/x", "b"} {
		topicList = append(topicList, p)
	}
	for i := range 40 {
		topicList = append(topicList, fmt.Sprintf("k/%d", i), fmt.Sprintf("%d", i))
	}
	filters := []string{"#", "+", "a/#", "a/+", "+/b", "k/+", "k/#", "$s/#", "+/+", "/#", "a//b", "k/7"}
	model := map[string]int{}
	r := NewRetained[int]()
	for step := range 20000 {
		tp := topicList[rng.IntN(len(topicList))]
		if rng.IntN(100) < 55 {
			_, had := model[tp]
			if isNew := r.Set(tp, step); isNew == had {
				t.Fatalf("step %d: Set(%q) isNew = %v; had = %v", step, tp, isNew, had)
			}
			model[tp] = step
		} else {
			_, had := model[tp]
			if got := r.Delete(tp); got != had {
				t.Fatalf("step %d: Delete(%q) = %v; want %v", step, tp, got, had)
			}
			delete(model, tp)
		}
		if r.Len() != len(model) {
			t.Fatalf("step %d: Len = %d; want %d", step, r.Len(), len(model))
		}
		if step%50 != 0 {
			continue
		}
		for _, f := range filters {
			var want, got []string
			for tp, v := range model {
				if Matches(f, tp) {
					want = append(want, fmt.Sprintf("%s=%d", tp, v))
				}
			}
			r.Match(f, func(tp string, v int) bool { got = append(got, fmt.Sprintf("%s=%d", tp, v)); return true })
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: Match(%q) = %v; want %v", step, f, got, want)
			}
		}
	}
	for tp := range model {
		r.Delete(tp)
	}
	if r.Len() != 0 || r.nodeCount() != 0 {
		t.Fatalf("Len = %d, nodes = %d after deleting all", r.Len(), r.nodeCount())
	}
}
