package integration

// Issue 12, proof item 4, with processes: a takeover across replicas, and
// a concurrent CONNECT race over 100 rounds: exactly one winner every
// round, never a split session; meanwhile other devices publish
// continuously through the round-robin proxy to a subscriber on r1, and
// every acked message arrives once, in order.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/clusterkit"
)

// backgroundTraffic is a persistent subscriber on r1 and two publishers
// (v3 QoS 1, v5 QoS 2) that connect through the proxy, 20 msg/s each.
type backgroundTraffic struct {
	sub  *clusterkit.Subscriber
	pubs []*clusterkit.Publisher
	runs []*running
}

func startBackground(t *testing.T, c *testCluster, base string) *backgroundTraffic {
	t.Helper()
	b := &backgroundTraffic{}
	b.sub = clusterkit.NewSubscriber(clusterkit.SubscriberConfig{ClientID: uniq(t, "bgsub"), Addr: at(c.rs[0].setup.mqtt),
		Version: 5, Filter: base + "#", QoS: 2, Persistent: true})
	if _, err := b.sub.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	runBackground(t, b.sub.Run)
	for _, ps := range []struct{ qos, version byte }{{1, 4}, {2, 5}} {
		name := uniq(t, "bgpub")
		p := clusterkit.NewPublisher(clusterkit.PublisherConfig{Name: name, Addr: at(c.proxyAddr()), Version: ps.version,
			QoS: ps.qos, Topic: base + name, Rate: 20})
		b.pubs = append(b.pubs, p)
		b.runs = append(b.runs, runBackground(t, p.Run))
	}
	waitFor(t, mqttWait, "the background traffic to flow", func() bool { return len(b.sub.Receipts()) >= 20 })
	return b
}

// check stops the publishers and wants every acked publish delivered
// once, in order.
func (b *backgroundTraffic) check(t *testing.T) clusterkit.Report {
	t.Helper()
	var sent []clusterkit.Sent
	for _, r := range b.runs {
		r.stop()
	}
	for _, p := range b.pubs {
		t.Logf("background publisher %s: acked %d, failed %d, connections %d (through the proxy), ack latency %s",
			p.Name(), p.Acked(), p.Failed(), p.Connects(), clusterkit.AckLatency(p.Sent()))
		sent = append(sent, p.Sent()...)
	}
	waitDelivered(t, b.sub, sent, kafkaWait)
	return checkReceipts(t, "background traffic", sent, b.sub)
}

func TestClusterTakeoverAndConnectRace(t *testing.T) {
	c := startCluster(t, 3, nil)
	base := "race/" + uniq(t, "run") + "/"
	bg := startBackground(t, c, base+"bg/")

	// Takeover: a persistent MQTT 5 device subscribes at r1, then connects
	// at r2, then at r3. Each new connection finds the session; the old
	// one is closed with DISCONNECT 0x8E.
	device := uniq(t, "dev")
	devTopic := base + "to/" + device
	final := make(chan struct{})
	var finalOnce sync.Once
	opts := func(r *clusterReplica) clusterkit.Options {
		return clusterkit.Options{Addr: r.setup.mqtt, ClientID: device, Version: 5, Expiry: 600, OnMessage: func(m clusterkit.Message) {
			if m.Topic == devTopic && string(m.Payload) == "final" {
				finalOnce.Do(func() { close(final) })
			}
		}}
	}
	prev := connectRetry(t, opts(c.rs[0]))
	if err := prev.Subscribe(context.Background(), devTopic, 1); err != nil {
		t.Fatal(err)
	}
	for _, r := range c.rs[1:] {
		start := time.Now()
		next := connectRetry(t, opts(r))
		took := time.Since(start)
		if !next.SessionPresent() {
			t.Errorf("takeover at %s: Session Present false; want the session found", r.id)
		}
		select {
		case <-prev.Done():
		case <-time.After(mqttWait):
			t.Fatalf("takeover at %s: the previous connection is still open", r.id)
		}
		if code, ok := prev.ServerDisconnect(); !ok || code != 0x8E {
			t.Errorf("takeover at %s: the previous connection got DISCONNECT %#x (sent %v); want 0x8E Session taken over", r.id, code, ok)
		}
		owners := c.checkOneOwner(true, device)
		if owners[device] != r.id {
			t.Errorf("after the takeover at %s the log names %q the owner", r.id, owners[device])
		}
		t.Logf("takeover at %s: CONNACK after %v", r.id, took.Round(time.Millisecond))
		prev = next
	}
	prev.Close()

	// The race: 100 rounds of three concurrent CONNECTs (Clean Start 0),
	// one at each replica, alternating MQTT 5 and 3.1.1.
	const rounds = 100
	refused, superseded, present, staleRounds := 0, 0, 0, 0
	var connackTimes []time.Duration // the winner's CONNECT to CONNACK
	var winners [3]int
	start := time.Now()
	lastWinner := -1
	for round := range rounds {
		version := byte(5)
		if round%2 == 1 {
			version = 4
		}
		clients := make([]*clusterkit.Client, len(c.rs))
		errs := make([]error, len(c.rs))
		took := make([]time.Duration, len(c.rs))
		var wg sync.WaitGroup
		for i, r := range c.rs {
			wg.Go(func() {
				o := opts(r)
				o.Version = version
				t0 := time.Now()
				clients[i], errs[i] = clusterkit.Connect(context.Background(), o)
				took[i] = time.Since(t0)
			})
		}
		wg.Wait()
		alive := func() []int {
			var out []int
			for i, cl := range clients {
				if errs[i] == nil && cl.Alive() {
					out = append(out, i)
				}
			}
			return out
		}
		waitFor(t, mqttWait, fmt.Sprintf("round %d: at most one connection left", round), func() bool { return len(alive()) <= 1 })
		a := alive()
		if len(a) != 1 {
			t.Fatalf("round %d: no connection remains (errors %v)", round, errs)
		}
		w := a[0]
		winners[w]++
		connackTimes = append(connackTimes, took[w])
		if clients[w].SessionPresent() {
			present++
		}
		// Never a split session: the winner's replica holds it online, no
		// other replica has it online, and the route tables agree. (No
		// other replica should hold it at all: a loser that held it
		// before keeps a stale offline copy on main; counted, strict with
		// CLUSTER_E2E_KNOWN_BUGS=1.)
		var st ownerState
		var err error
		if !poll(mqttWait, func() bool {
			st, err = c.holdersOf(device)
			return err == nil && slices.Contains(st.Holders, c.rs[w].id) && slices.Equal(st.Online, []string{c.rs[w].id}) &&
				(!knownBugs() || len(st.Holders) == 1)
		}) {
			t.Fatalf("round %d: the connection at %s won, but the replicas holding the session are %v (online %v, err %v)",
				round, c.rs[w].id, st.Holders, st.Online, err)
		}
		if len(st.Holders) > 1 {
			staleRounds++
		}
		if round%10 == 9 && !poll(mqttWait, func() bool { ok, _ := c.routeViewsAgree(); return ok }) {
			_, views := c.routeViewsAgree()
			t.Fatalf("round %d: the route tables disagree: %v", round, views)
		}
		for i := range clients {
			switch {
			case i == w:
			case errs[i] != nil:
				refused++
			default:
				superseded++
			}
		}
		lastWinner = w
		if round < rounds-1 {
			clients[w].Close()
		} else {
			t.Cleanup(clients[w].Close)
		}
	}
	raceTook := time.Since(start)
	// The last winner is the owner in the log, and its session works: a
	// message to its topic, published at another replica, reaches it.
	wr := c.rs[lastWinner]
	owners := c.checkOneOwner(true, device)
	if owners[device] != wr.id {
		t.Errorf("after the race the log names %q the owner; the last winner is at %s", owners[device], wr.id)
	}
	from := c.rs[(lastWinner+1)%len(c.rs)]
	pub := connectRetry(t, clusterkit.Options{Addr: from.setup.mqtt, ClientID: uniq(t, "final"), Version: 5, CleanStart: true})
	if err := pub.Publish(context.Background(), devTopic, 1, false, []byte("final")); err != nil {
		t.Fatalf("publish to the device at %s: %v", from.id, err)
	}
	select {
	case <-final:
	case <-time.After(mqttWait):
		t.Errorf("a message published at %s did not reach the race's last winner at %s: its subscription did not survive", from.id, wr.id)
	}
	t.Logf("%d rounds of 3 concurrent CONNECTs in %v (%v per round): winners by replica %v, %d refused before CONNACK, %d closed after it, Session Present on %d winners; the winner's CONNACK %s; %d rounds left a stale offline copy at a loser",
		rounds, raceTook.Round(time.Millisecond), (raceTook / rounds).Round(time.Millisecond), winners, refused, superseded, present,
		durationStats(connackTimes), staleRounds)
	// What a stale copy does: a publish at that replica is queued there
	// for a session it does not own (besides the copy to the owner).
	st, _ := c.holdersOf(device)
	for _, h := range st.Holders {
		if h == wr.id {
			continue
		}
		r := c.replica(h)
		p := connectRetry(t, clusterkit.Options{Addr: r.setup.mqtt, ClientID: uniq(t, "probe"), Version: 5, CleanStart: true})
		if err := p.Publish(context.Background(), devTopic, 1, false, []byte("to the stale copy")); err != nil {
			t.Fatalf("publish at %s: %v", h, err)
		}
		p.Close()
		var v struct {
			Online bool `json:"online"`
			Queued int  `json:"queued"`
		}
		_, body := httpGet(r.setup.admin, "/api/v1/clients/"+device)
		_ = json.Unmarshal([]byte(body), &v)
		t.Logf("stale copy of %s at %s (the owner is %s) after a publish there: online %v, queued %d", device, h, wr.id, v.Online, v.Queued)
	}
	if present != rounds {
		t.Errorf("Session Present on %d of %d winners; want all (the session persists: Clean Start 0)", present, rounds)
	}
	bg.check(t)
	c.logRouting()
}
