package mqttfront

import (
	"slices"
	"strconv"
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// TestCollectTargets: one target per session whatever the number of
// sessions and overlapping subscriptions: the highest QoS (capped by the
// message's), Retain As Published if any subscription asks, every
// Subscription Identifier in order; No Local and shared subscriptions are
// set apart.
func TestCollectTargets(t *testing.T) {
	for _, n := range []int{1, 3, 40, 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var subs []topics.Sub
			for round := range 3 { // each client matches three times, interleaved
				for i := range n {
					subs = append(subs, topics.Sub{ClientID: "c" + strconv.Itoa(i), Filter: "f" + strconv.Itoa(round),
						QoS: byte(round), RetainAsPublished: round == 1, ID: uint32(round + 1)})
				}
			}
			subs = append(subs,
				topics.Sub{ClientID: "me", Filter: "a/#", NoLocal: true},
				topics.Sub{ClientID: "g1", Filter: "$share/g/a/#", Group: "g"},
				topics.Sub{ClientID: "g2", Filter: "$share/g/a/#", Group: "g"})
			targets, shared := collectTargets(subs, 1, "me")
			if len(targets) != n {
				t.Fatalf("%d targets; want %d (one per client)", len(targets), n)
			}
			seen := map[string]bool{}
			for _, tg := range targets {
				if seen[tg.clientID] {
					t.Fatalf("client %s targeted twice", tg.clientID)
				}
				seen[tg.clientID] = true
				if tg.qos != 1 || !tg.rap || !slices.Equal(tg.subIDs, []uint32{1, 2, 3}) {
					t.Errorf("target %s: qos %d rap %v ids %v; want qos 1 (the message's), rap, ids [1 2 3]", tg.clientID, tg.qos, tg.rap, tg.subIDs)
				}
			}
			if seen["me"] {
				t.Error("No Local subscription of the publisher targeted")
			}
			if len(shared) != 1 || len(shared["$share/g/a/#"]) != 2 {
				t.Errorf("shared groups %v; want one group of two", shared)
			}
		})
	}
}

// BenchmarkCollectTargets: turning the subscriptions that match a message
// into one target per session, for a topic with many subscribers (each
// client once). The dedupe used to be a linear scan per subscription.
func BenchmarkCollectTargets(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		subs := make([]topics.Sub, n)
		for i := range subs {
			subs[i] = topics.Sub{ClientID: "client-" + strconv.Itoa(i), Filter: "fan/#"}
		}
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				collectTargets(subs, 1, "")
			}
		})
	}
}
