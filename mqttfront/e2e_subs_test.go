package mqttfront_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestE2EWildcards: '+' matches one level, '#' any number including the
// parent [MQTT-4.7.1-2]; a marker published last bounds the wait.
func TestE2EWildcards(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	cases := []struct {
		filter string
		want   []string
	}{
		{"wc/+/x", []string{"wc/a/x", "wc/b/x"}},
		{"wc/a/#", []string{"wc/a", "wc/a/x", "wc/a/y/z"}},
		{"wc/+", []string{"wc/a", "wc/b"}},
		{"+/+/x", []string{"wc/a/x", "wc/b/x"}},
	}
	topics := []string{"wc/a", "wc/b", "wc/a/x", "wc/b/x", "wc/a/y/z", "wc/c/y"}
	pub := connectV3(t, v3Opts(t, addr))
	for _, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			var in inbox
			sub := connectV3(t, v3Opts(t, addr))
			subV3(t, sub, tc.filter, 1, &in)
			subV3(t, sub, "wcmarker", 1, &in)
			for _, tp := range topics {
				pubV3(t, pub, tp, 1, false, tp)
			}
			pubV3(t, pub, "wcmarker", 1, false, "end")
			in.waitMsg(t, "wcmarker", "end")
			var got []string
			for _, m := range in.all() {
				if m.Topic != "wcmarker" {
					got = append(got, m.Topic)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("filter %q received %v; want %v", tc.filter, got, tc.want)
			}
		})
	}
}

// TestE2EDollarTopicsNotMatchedByWildcard: '#' and '+/...' do not match
// topics starting with '$' [MQTT-4.7.2-1]; '$SYS/#' does.
func TestE2EDollarTopicsNotMatchedByWildcard(t *testing.T) {
	srv, addr := startServer(t, nil, nil)
	var all, sys inbox
	c := connectV3(t, v3Opts(t, addr))
	subV3(t, c, "#", 0, &all)
	c2 := connectV3(t, v3Opts(t, addr))
	subV3(t, c2, "$SYS/#", 0, &sys)
	c3 := connectV3(t, v3Opts(t, addr))
	subV3(t, c3, "+/e2e/probe", 0, &all)

	srv.Publish(&mqttfront.Message{Topic: "$SYS/e2e/probe", Payload: []byte("p"), QoS: 0}, nil)
	srv.Publish(&mqttfront.Message{Topic: "plain/marker", Payload: []byte("m"), QoS: 0}, nil)
	sys.waitMsg(t, "$SYS/e2e/probe", "p")
	all.waitMsg(t, "plain/marker", "m")
	for _, m := range all.all() {
		if strings.HasPrefix(m.Topic, "$") {
			t.Errorf("wildcard subscriber received %q; want no $-topics", m.Topic)
		}
	}
}

func TestE2EV5NoLocal(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	self := connectV5(t, addr, v5Config{})
	self.sub(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "nl/t", QoS: 1, NoLocal: true},
		{Topic: "nl/marker", QoS: 1},
	}})
	other := connectV5(t, addr, v5Config{})
	other.subOK(t, "nl/t", 1)

	self.pubOK(t, "nl/t", 1, false, "mine")
	self.pubOK(t, "nl/marker", 1, false, "end")
	other.inbox.waitMsg(t, "nl/t", "mine")
	self.inbox.waitMsg(t, "nl/marker", "end")
	if got := self.inbox.onTopic("nl/t"); len(got) != 0 {
		t.Errorf("No Local subscriber received its own message %v [MQTT-3.8.3-3]", got)
	}
}

func TestE2EV5RetainAsPublished(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	rap := connectV5(t, addr, v5Config{})
	rap.sub(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "rap/t", QoS: 1, RetainAsPublished: true}}})
	plain := connectV5(t, addr, v5Config{})
	plain.sub(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "rap/t", QoS: 1}}})
	pub := connectV5(t, addr, v5Config{})
	pub.pubOK(t, "rap/t", 1, true, "r")

	if got := rap.inbox.waitN(t, 1)[0]; !got.Retain {
		t.Errorf("Retain As Published subscriber got retain=false; want true [MQTT-3.3.1-13]")
	}
	if got := plain.inbox.waitN(t, 1)[0]; got.Retain {
		t.Errorf("plain subscriber got retain=true on a live message; want false [MQTT-3.3.1-12]")
	}
}

func TestE2EV5RetainHandling(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	pub := connectV5(t, addr, v5Config{})
	pub.pubOK(t, "rh/t", 1, true, "kept")

	// subscribeTwice subscribes twice with handling rh and returns how many
	// retained messages arrived after each SUBSCRIBE.
	subscribeTwice := func(t *testing.T, rh byte) (first, second int) {
		c := connectV5(t, addr, v5Config{})
		marker := fmt.Sprintf("rh/marker/%d", rh)
		c.subOK(t, marker, 1)
		opts := &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "rh/t", QoS: 1, RetainHandling: rh}}}
		for round := range 2 {
			c.sub(t, opts)
			payload := strconv.Itoa(round)
			// The subscriber publishes the marker itself: the server handles
			// one connection's packets in order, so retained deliveries for
			// the SUBSCRIBE are queued before the marker is routed (SUBACK
			// alone may overtake them).
			c.pubOK(t, marker, 1, false, payload)
			c.inbox.waitMsg(t, marker, payload)
			n := len(c.inbox.onTopic("rh/t"))
			if round == 0 {
				first = n
			} else {
				second = n - first
			}
		}
		return first, second
	}
	for _, tc := range []struct {
		rh            byte
		first, second int
	}{
		{0, 1, 1}, // always send [MQTT-3.3.1-9]
		{1, 1, 0}, // only if the subscription did not exist [MQTT-3.3.1-10]
		{2, 0, 0}, // never [MQTT-3.3.1-11]
	} {
		t.Run(fmt.Sprintf("rh%d", tc.rh), func(t *testing.T) {
			first, second := subscribeTwice(t, tc.rh)
			if first != tc.first || second != tc.second {
				t.Errorf("retain handling %d: retained deliveries %d then %d; want %d then %d", tc.rh, first, second, tc.first, tc.second)
			}
		})
	}
}

func TestE2EV5SubscriptionIdentifiers(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	c := connectV5(t, addr, v5Config{})
	if c.connack.Properties != nil && !c.connack.Properties.SubIDAvailable {
		t.Errorf("CONNACK says subscription identifiers unavailable")
	}
	for filter, id := range map[string]int{"sid/x": 7, "sid/y/#": 300} {
		id := id
		r := c.sub(t, &paho.Subscribe{
			Properties:    &paho.SubscribeProperties{SubscriptionIdentifier: &id},
			Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}},
		})
		if len(r) != 1 || r[0] >= 0x80 {
			t.Fatalf("SUBACK %v", r)
		}
	}
	c.subOK(t, "sid/none", 1)
	pub := connectV5(t, addr, v5Config{})
	pub.pubOK(t, "sid/x", 1, false, "a")
	pub.pubOK(t, "sid/y/z", 1, false, "b")
	pub.pubOK(t, "sid/none", 1, false, "c")
	c.inbox.waitN(t, 3)
	for topic, want := range map[string]int{"sid/x": 7, "sid/y/z": 300, "sid/none": 0} {
		got := c.inbox.onTopic(topic)
		if len(got) != 1 {
			t.Fatalf("%s: %d deliveries; want 1", topic, len(got))
		}
		id := 0
		if p := got[0].Props; p != nil && p.SubscriptionIdentifier != nil {
			id = *p.SubscriptionIdentifier
		}
		if id != want {
			t.Errorf("%s: subscription identifier %d; want %d", topic, id, want)
		}
	}
}

// TestE2ESharedSubscriptions: each message to a $share group goes to exactly
// one member, spread across all members; a plain subscriber gets all.
func TestE2ESharedSubscriptions(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	const n = 30
	check := func(t *testing.T, members []*inbox, topic string) {
		waitFor(t, e2eTimeout, "all shared deliveries", func() bool {
			total := 0
			for _, m := range members {
				total += len(m.onTopic(topic))
			}
			return total >= n
		})
		seen := map[string]int{}
		for i, m := range members {
			got := m.onTopic(topic)
			if len(got) == 0 {
				t.Errorf("member %d got no messages; want the load spread across all members", i)
			}
			for _, r := range got {
				seen[r.Payload]++
			}
		}
		for i := range n {
			if c := seen[strconv.Itoa(i)]; c != 1 {
				t.Errorf("message %d delivered to %d members; want exactly 1", i, c)
			}
		}
	}
	t.Run("v3", func(t *testing.T) {
		var members []*inbox
		for range 3 {
			in := &inbox{}
			c := connectV3(t, v3Opts(t, addr))
			subV3(t, c, "$share/g3/sh3/t", 1, in)
			members = append(members, in)
		}
		var all inbox
		plain := connectV3(t, v3Opts(t, addr))
		subV3(t, plain, "sh3/t", 1, &all)
		pub := connectV3(t, v3Opts(t, addr))
		for i := range n {
			pubV3(t, pub, "sh3/t", 1, false, strconv.Itoa(i))
		}
		check(t, members, "sh3/t")
		all.waitN(t, n)
	})
	t.Run("v5", func(t *testing.T) {
		var members []*inbox
		for range 3 {
			c := connectV5(t, addr, v5Config{})
			c.subOK(t, "$share/g5/sh5/t", 1)
			members = append(members, c.inbox)
		}
		pub := connectV5(t, addr, v5Config{})
		for i := range n {
			pub.pubOK(t, "sh5/t", 1, false, strconv.Itoa(i))
		}
		check(t, members, "sh5/t")
	})
	t.Run("no retained for shared", func(t *testing.T) {
		pub := connectV5(t, addr, v5Config{})
		pub.pubOK(t, "shr/t", 1, true, "retained")
		c := connectV5(t, addr, v5Config{})
		c.subOK(t, "$share/gr/shr/t", 1)
		c.subOK(t, "shr/marker", 1)
		c.pubOK(t, "shr/marker", 1, false, "end") // self-published: see TestE2EV5RetainHandling
		c.inbox.waitMsg(t, "shr/marker", "end")
		if got := c.inbox.onTopic("shr/t"); len(got) != 0 {
			t.Errorf("shared subscriber got retained %v; want none (MQTT 5 §4.8.2)", got)
		}
	})
}

// TestE2EOverlappingSubscriptions: a message matching two subscriptions of
// one client is delivered once, at the highest granted QoS [MQTT-3.3.5-1].
func TestE2EOverlappingSubscriptions(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	c := connectV5(t, addr, v5Config{})
	c.sub(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "ov/#", QoS: 0}, {Topic: "ov/t", QoS: 2}, {Topic: "ov/end", QoS: 1}}})
	pub := connectV5(t, addr, v5Config{})
	pub.pubOK(t, "ov/t", 2, false, "once")
	pub.pubOK(t, "ov/end", 1, false, "end")
	c.inbox.waitMsg(t, "ov/end", "end")
	got := c.inbox.onTopic("ov/t")
	if len(got) != 1 || got[0].QoS != 2 {
		t.Errorf("deliveries %+v; want one at QoS 2", got)
	}
}
