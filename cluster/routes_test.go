package cluster

import (
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

func routeEntry(owner string, filters ...string) *entry {
	st := &mqttfront.SessionState{}
	for _, f := range filters {
		st.Subscriptions = append(st.Subscriptions, topics.Sub{Filter: f, QoS: 1})
	}
	return &entry{owner: Owner{Replica: owner}, state: st}
}

// TestRoutesRemote: the route table names, per other replica, the
// sessions it owns that match a topic (online or offline, once each), and
// follows the sessions log: subscriptions changed, a session moved or
// ended, shared subscriptions and No Local left out.
func TestRoutesRemote(t *testing.T) {
	rt := newRoutes()
	rt.set("a", routeEntry("r1", "x/#", "x/+")) // two overlapping filters: one target
	rt.set("b", routeEntry("r1", "x/y"))
	rt.set("c", routeEntry("r2", "x/y", "$share/g/x/#"))
	rt.set("me", routeEntry("r3", "x/#")) // this replica's own
	noLocal := routeEntry("r2", "x/#")
	noLocal.state.Subscriptions[0].NoLocal = true
	rt.set("pub", noLocal)

	remote := func(topic, from string) map[string][]string {
		out, _ := rt.remote(topic, from, "r3", nil)
		for _, ids := range out {
			slices.Sort(ids)
		}
		return out
	}
	if got, want := remote("x/y", "pub"), map[string][]string{"r1": {"a", "b"}, "r2": {"c"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("remote(x/y) = %v; want %v", got, want)
	}
	if got := remote("other", ""); got != nil {
		t.Fatalf("remote(other) = %v; want nil (no copy at all)", got)
	}
	if got, want := remote("x/z/w", ""), map[string][]string{"r1": {"a"}, "r2": {"pub"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("remote(x/z/w) = %v; want %v (c's shared subscription is not routed)", got, want)
	}

	rt.set("a", routeEntry("r2", "x/+"))             // moved to r2, dropped x/#
	rt.set("b", &entry{owner: Owner{Replica: "r1"}}) // ended
	rt.set("c", nil)                                 // tombstone
	if got, want := remote("x/y", "pub"), map[string][]string{"r2": {"a"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the changes remote(x/y) = %v; want %v", got, want)
	}
	if got := remote("x/z/w", "pub"); got != nil {
		t.Fatalf("after the changes remote(x/z/w) = %v; want nil", got)
	}
	if got, want := rt.sessions(), map[string]int{"r2": 2, "r3": 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sessions = %v; want %v", got, want)
	}
	rt.reset()
	if got := remote("x/y", ""); got != nil || rt.index.Len() != 0 {
		t.Fatalf("after reset: %v, %d subscriptions; want none", got, rt.index.Len())
	}
}

// BenchmarkRouteRemote: the route table's part of a publish, with 10000
// sessions on 3 replicas: a topic nobody remote subscribes to (the
// common case, it must not allocate) and one with 100 remote matches.
func BenchmarkRouteRemote(b *testing.B) {
	rt := newRoutes()
	for i := range 10000 {
		id := "dev-" + string(rune('a'+i%26)) + "-" + strconv.Itoa(i)
		rt.set(id, routeEntry([]string{"r1", "r2", "r3"}[i%3], "devices/"+strconv.Itoa(i)+"/cmd", "fleet/"+strconv.Itoa(i%100)+"/#"))
	}
	buf := make([]topics.Sub, 0, 16)
	b.Run("no_remote", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out map[string][]string
			out, buf = rt.remote("devices/3/cmd", "", "r1", buf)
			if out != nil {
				b.Fatal("remote match")
			}
		}
	})
	b.Run("100_remote", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out map[string][]string
			out, buf = rt.remote("fleet/7/x", "", "r1", buf)
			if len(out) != 2 {
				b.Fatalf("%d replicas; want 2", len(out))
			}
		}
	})
}
