package cluster

import (
	"reflect"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// shareEntry is a session owned by owner, online or not, with filters.
func shareEntry(owner string, online bool, filters ...string) *entry {
	e := routeEntry(owner, filters...)
	if !online {
		e.state.DisconnectedAt = time.UnixMilli(1)
	}
	return e
}

// picks makes n picks for group f, skipping skip.
func picks(sr *shareRoutes, f string, n int, skip ...string) []string {
	var out []string
	for range n {
		r, ok := sr.pick(f, skip)
		if !ok {
			r = "-"
		}
		out = append(out, r)
	}
	return out
}

// TestShareRoutes: the route table keeps, per $share group filter, the
// replicas holding members with their online and offline counts, as the
// sessions log changes (subscribe, disconnect, move, end, reset); a topic
// matches the groups once each; the pick is a round-robin over the
// holders weighted by their connected members, falls back to the offline
// ones, and skips the replicas already tried.
func TestShareRoutes(t *testing.T) {
	const g, h = "$share/g/x/#", "$share/h/y"
	rt := newRoutes()
	sr := rt.shares
	rt.set("a", shareEntry("r1", true, g, "x/plain"))
	rt.set("b", shareEntry("r1", false, g))
	rt.set("c", shareEntry("r2", true, g, h))
	rt.set("d", shareEntry("r3", false, g))

	if got, want := sr.holders(g), map[string]memberCount{"r1": {1, 1}, "r2": {1, 0}, "r3": {0, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("holders(%s) = %v; want %v", g, got, want)
	}
	match := func(topic string) []string {
		out, _ := sr.match(topic, nil)
		return out
	}
	if got, want := match("x/1"), []string{g}; !reflect.DeepEqual(got, want) {
		t.Fatalf("match(x/1) = %v; want %v (one group, whatever its holders)", got, want)
	}
	if got := match("z"); got != nil {
		t.Fatalf("match(z) = %v; want nil", got)
	}
	if got, want := picks(sr, g, 4), []string{"r1", "r2", "r1", "r2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("picks = %v; want %v (connected members only, round-robin)", got, want)
	}
	if got, want := picks(sr, g, 2, "r1", "r2"), []string{"r3", "r3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("picks skipping r1, r2 = %v; want %v (r3's offline member: none left online)", got, want)
	}
	if got, want := picks(sr, g, 1, "r1", "r2", "r3"), []string{"-"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("picks skipping all = %v; want %v", got, want)
	}
	if out, _ := rt.remote("x/plain", "", "r2", nil); !reflect.DeepEqual(out, map[string][]string{"r1": {"a"}}) {
		t.Fatalf("remote(x/plain) = %v; want r1: a (shared filters kept apart)", out)
	}

	// Weighted: r1 has 3 connected members, r2 one.
	rt.set("b", shareEntry("r1", true, g))
	rt.set("e", shareEntry("r1", true, g))
	count := map[string]int{}
	for _, r := range picks(sr, g, 8) {
		count[r]++
	}
	if want := map[string]int{"r1": 6, "r2": 2}; !reflect.DeepEqual(count, want) {
		t.Fatalf("8 picks over 3 + 1 connected members: %v; want %v", count, want)
	}

	rt.set("a", shareEntry("r1", false, g)) // a disconnected
	rt.set("c", shareEntry("r3", true, g))  // c moved to r3, left h
	rt.set("b", nil)                        // b ended
	rt.set("e", &entry{owner: Owner{Replica: "r1"}})
	if got, want := sr.holders(g), map[string]memberCount{"r1": {0, 1}, "r3": {1, 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the changes holders(%s) = %v; want %v", g, got, want)
	}
	if got := sr.holders(h); got != nil || match("y") != nil {
		t.Fatalf("group %s has holders %v after its one member left; want none, and no match", h, got)
	}
	if got, want := picks(sr, g, 3), []string{"r3", "r3", "r3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("picks = %v; want %v (r3 holds the one connected member)", got, want)
	}
	if sr.len() != 1 {
		t.Fatalf("%d groups; want 1", sr.len())
	}
	rt.reset()
	if sr.len() != 0 || sr.index.Len() != 0 || match("x/1") != nil {
		t.Fatalf("after reset: %d groups, %d index entries; want none", sr.len(), sr.index.Len())
	}
	rt.set("a", shareEntry("r2", true, g))
	if got, want := picks(sr, g, 1), []string{"r2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after reset and a new member: picks = %v; want %v", got, want)
	}
}

// BenchmarkShareRoute: the route table's part of a publish for shared
// subscriptions, 1000 members of one group on 3 replicas and 100 other
// groups: the match costs the holders, not the members.
func BenchmarkShareRoute(b *testing.B) {
	rt := newRoutes()
	for i := range 1000 {
		st := &mqttfront.SessionState{Subscriptions: []topics.Sub{{Filter: "$share/workers/jobs/#", QoS: 1}, {Filter: "$share/g" + string(rune('0'+i%10)) + "/other/" + string(rune('a'+i%10)), QoS: 1}}}
		rt.set("m"+string(rune(i)), &entry{owner: Owner{Replica: []string{"r1", "r2", "r3"}[i%3]}, state: st})
	}
	buf := make([]topics.Sub, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		var gs []string
		gs, buf = rt.shares.match("jobs/7", buf)
		if len(gs) != 1 {
			b.Fatalf("%d groups; want 1", len(gs))
		}
		if _, ok := rt.shares.pick(gs[0], nil); !ok {
			b.Fatal("no pick")
		}
	}
}
