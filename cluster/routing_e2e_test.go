package cluster

// Routing between replicas through their inboxes: three replicas in one
// process (startReplicas) against the real Kafka.

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/eclipse/paho.golang/paho"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// publishQoS publishes at qos and, for QoS 1/2, returns once acked.
func (c *client) publishQoS(t *testing.T, topic, payload string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)}); err != nil {
		t.Fatalf("publish %q at QoS %d: %v", topic, qos, err)
	}
}

// receive collects n messages (or fails after defaultWait).
func (c *client) receive(t *testing.T, n int) []*paho.Publish {
	t.Helper()
	var got []*paho.Publish
	deadline := time.After(defaultWait)
	for len(got) < n {
		select {
		case p := <-c.got:
			got = append(got, p)
		case <-deadline:
			t.Fatalf("received %d of %d messages within %v", len(got), n, defaultWait)
		}
	}
	return got
}

// expectNone fails if a message arrives within d.
func (c *client) expectNone(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case p := <-c.got:
		t.Fatalf("unexpected message %q %q", p.Topic, p.Payload)
	case <-time.After(d):
	}
}

// payloads are the payloads of ps, in order.
func payloads(ps []*paho.Publish) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p.Payload)
	}
	return out
}

func seqPayloads(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

// waitRoute waits until every replica's route table names owner for
// clientID with the filter (its subscription was applied there).
func waitRoute(t *testing.T, rs []*replica, clientID, filter, owner string) {
	t.Helper()
	for _, r := range rs {
		waitFor(t, defaultWait, r.id+" to route "+filter+" to "+owner, func() bool {
			subs, o := r.node.claims.routes.index.ClientSubs(clientID), ""
			r.node.claims.routes.mu.RLock()
			o = r.node.claims.routes.owners[clientID]
			r.node.claims.routes.mu.RUnlock()
			return o == owner && slices.ContainsFunc(subs, func(s topics.Sub) bool { return s.Filter == filter })
		})
	}
}

// TestClusterRoutingAcrossReplicas (issue 12, proof 1): a device on r1
// subscribes, a device on r2 publishes at QoS 0, 1 and 2 in turn: every
// message arrives once, in order. r2 produces one copy per publish (to
// r1, the one replica with a matching session), none to r3. A Publish at
// r2 (the downlink's and the admin API's path) completes once its copy is
// acked and reaches the device too. Logs the publish → deliver latency.
func TestClusterRoutingAcrossReplicas(t *testing.T) {
	rs := startReplicas(t, 3, nil, nil)
	sub := connectClient(t, rs[0].addr, clientName("sub"), "", true)
	if code := sub.subscribe(t, "rt/+/data", 2); code != 2 {
		t.Fatalf("SUBACK = %#x; want 2", code)
	}
	waitRoute(t, rs, sub.ClientID(), "rt/+/data", "r1")
	pub := connectClient(t, rs[1].addr, clientName("pub"), "", true)
	before := rs[1].router.Stats()

	const n = 90
	for i := range n {
		pub.publishQoS(t, "rt/dev/data", strconv.Itoa(i), byte(i%3))
	}
	got := sub.receive(t, n)
	if want := seqPayloads(0, n); !slices.Equal(payloads(got), want) {
		t.Fatalf("r1 received %v; want %v (once each, in publish order)", payloads(got), want)
	}
	for i, p := range got {
		if p.QoS != byte(i%3) {
			t.Fatalf("message %d delivered at QoS %d; want %d", i, p.QoS, i%3)
		}
	}
	sub.expectNone(t, 300*time.Millisecond)
	after := rs[1].router.Stats()
	if c, r := after.Copies-before.Copies, after.RoutedPublishes-before.RoutedPublishes; c != n || r != n {
		t.Fatalf("r2 produced %d copies for %d routed publishes; want %d and %d (one replica has subscribers: one copy each)", c, r, n, n)
	}
	if st := rs[2].router.Stats(); st.Received != 0 {
		t.Fatalf("r3 received %d copies; want 0 (no session there)", st.Received)
	}

	// The downlink's path: done once the copy is in r1's inbox.
	done := make(chan error, 1)
	rs[1].srv.Publish(&mqttfront.Message{Topic: "rt/cmd/data", Payload: []byte("down"), QoS: 1}, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Publish at r2: done(%v); want nil", err)
		}
	case <-time.After(defaultWait):
		t.Fatalf("Publish at r2: no done within %v", defaultWait)
	}
	sub.expect(t, "rt/cmd/data", "down")

	// Latency, one message at a time: QoS 1 publish at r2 to delivery at r1.
	const m = 200
	lat := make([]time.Duration, 0, m)
	for i := range m {
		start := time.Now()
		pub.publishQoS(t, "rt/lat/data", strconv.Itoa(i), 1)
		p := sub.receive(t, 1)[0]
		lat = append(lat, time.Since(start))
		if string(p.Payload) != strconv.Itoa(i) {
			t.Fatalf("latency run: received %q; want %d", p.Payload, i)
		}
	}
	slices.Sort(lat)
	t.Logf("cross-replica QoS 1 publish (r2) -> deliver (r1), %d sequential messages: p50 %v, p90 %v, p99 %v, max %v",
		m, lat[m/2], lat[m*9/10], lat[m*99/100], lat[m-1])
}

// TestClusterRoutingZeroCopies: a publish that no other replica has a
// subscriber for produces no copy at all (cost scales with the replicas
// holding subscribers, not with the cluster).
func TestClusterRoutingZeroCopies(t *testing.T) {
	rs := startReplicas(t, 3, nil, nil)
	local := connectClient(t, rs[1].addr, clientName("local"), "", true)
	local.subscribe(t, "zc/#", 1)
	remote := connectClient(t, rs[0].addr, clientName("remote"), "", true)
	remote.subscribe(t, "other/#", 1)
	waitRoute(t, rs, remote.ClientID(), "other/#", "r1")
	waitRoute(t, rs, local.ClientID(), "zc/#", "r2")
	pub := connectClient(t, rs[1].addr, clientName("pub"), "", true)
	for i := range 20 {
		pub.publishQoS(t, "zc/t", strconv.Itoa(i), byte(i%3))
		pub.publishQoS(t, "nobody/t", strconv.Itoa(i), byte(i%3))
	}
	local.receive(t, 20)
	for _, r := range rs {
		if st := r.router.Stats(); st.Copies != 0 || st.RoutedPublishes != 0 || st.Received != 0 {
			t.Fatalf("%s: %d copies, %d routed publishes, %d received; want none (no remote subscriber)", r.id, st.Copies, st.RoutedPublishes, st.Received)
		}
	}
}

// TestClusterRoutingOfflineQueued: a persistent session subscribed at r1
// goes offline; messages published at r2 are queued at r1 (durably, by
// the inbox) and delivered in order when it reconnects at r1.
func TestClusterRoutingOfflineQueued(t *testing.T) {
	rs := startReplicas(t, 3, nil, nil)
	id := clientName("offline")
	parkOffline(t, rs, id, "oq/#", 1)
	pub := connectClient(t, rs[1].addr, clientName("pub"), "", true)
	const n = 30
	for i := range n {
		pub.publishQoS(t, "oq/t", strconv.Itoa(i), 1+byte(i%2))
	}
	waitFor(t, defaultWait, "r1 to apply the copies", func() bool { return rs[0].router.Stats().Received >= n })
	back := connectClient(t, rs[0].addr, id, "", false)
	if !back.connack.SessionPresent {
		t.Fatalf("reconnect at r1: Session Present 0; want 1")
	}
	if got := payloads(back.receive(t, n)); !slices.Equal(got, seqPayloads(0, n)) {
		t.Fatalf("queued at r1: %v; want %v", got, seqPayloads(0, n))
	}
	back.expectNone(t, 300*time.Millisecond)
}

// waitOffline waits until every replica sees clientID's session offline.
func waitOffline(t *testing.T, rs []*replica, clientID string) {
	t.Helper()
	for _, r := range rs {
		waitFor(t, defaultWait, r.id+" to see "+clientID+" offline", func() bool {
			st, _, ok := r.node.Claims().State(clientID)
			return ok && !st.DisconnectedAt.IsZero()
		})
	}
}

// parkOffline connects id at rs[0] (persistent), subscribes filter at
// qos, disconnects and waits until every replica sees the session
// offline; it returns the SUBACK's code.
func parkOffline(t *testing.T, rs []*replica, id, filter string, qos byte) byte {
	t.Helper()
	d := connectClient(t, rs[0].addr, id, "", true)
	code := d.subscribe(t, filter, qos)
	d.close()
	waitOffline(t, rs, id)
	return code
}

// TestClusterRoutingInboxRedelivery: r1 is stopped while copies for an
// offline session it owns keep coming, and restarted with its inbox
// checkpoint rewound to the start, so every copy is read again, those
// already queued before the stop included. The marks kept with the queued
// messages make the re-read deliver nothing twice: the session gets every
// message once, in order.
func TestClusterRoutingInboxRedelivery(t *testing.T) {
	rs := startReplicas(t, 2, nil, nil)
	id := clientName("redeliver")
	parkOffline(t, rs, id, "rd/#", 1)
	pub := connectClient(t, rs[1].addr, clientName("pub"), "", true)
	const half = 25
	for i := range half {
		pub.publishQoS(t, "rd/t", strconv.Itoa(i), 1)
	}
	waitFor(t, defaultWait, "r1 to queue the first half", func() bool { return rs[0].router.Stats().Received >= half })

	r1 := rs[0]
	r1.stop()
	for i := half; i < 2*half; i++ { // acked: in r1's inbox while it is down
		pub.publishQoS(t, "rd/t", strconv.Itoa(i), 1)
	}
	rewindInbox(t, r1.nodeDir)
	cfg := testConfigFor(t, rs[1].node.cfg, "r1")
	r1 = startReplica(t, cfg, r1.nodeDir, r1.mqttDir, nil)
	waitFor(t, defaultWait, "restarted r1 to read its inbox again", func() bool { return r1.router.Stats().Received >= 2*half })

	back := connectClient(t, r1.addr, id, "", false)
	if !back.connack.SessionPresent {
		t.Fatalf("reconnect at the restarted r1: Session Present 0; want 1")
	}
	if got := payloads(back.receive(t, 2*half)); !slices.Equal(got, seqPayloads(0, 2*half)) {
		t.Fatalf("after the restart: %v; want %v", got, seqPayloads(0, 2*half))
	}
	back.expectNone(t, 500*time.Millisecond) // nothing twice
}

// testConfigFor is the cluster config of a running replica with another
// replica id (the topics and timings of the test's cluster).
func testConfigFor(t *testing.T, c Config, id string) Config {
	t.Helper()
	c.ReplicaID = id
	return c
}

// rewindInbox sets a stopped replica's inbox checkpoint back to offset 0.
func rewindInbox(t *testing.T, nodeDir string) {
	t.Helper()
	c, err := openCache(filepath.Join(nodeDir, "cluster.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cps, err := c.checkpoints(inboxTable)
	if err != nil || cps[0].Next == 0 {
		t.Fatalf("inbox checkpoint before the rewind: %+v, %v; want one above 0", cps, err)
	}
	if err := c.commit(inboxTable, nil, map[int32]int64{0: 0}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestClusterRoutingStaleCopyForwarded: a copy that reaches a replica
// which no longer owns the session (a source's stale route table) is
// forwarded to the current owner before the inbox moves on: the session,
// now at r3, gets it.
func TestClusterRoutingStaleCopyForwarded(t *testing.T) {
	rs := startReplicas(t, 3, nil, nil)
	id := clientName("moved")
	parkOffline(t, rs, id, "st/#", 1)
	d3 := connectClient(t, rs[2].addr, id, "", false)
	waitRoute(t, rs, id, "st/#", "r3")

	// r2's copy, routed on the view before the move, lands in r1's inbox.
	rec := copyRecord{Source: "r2", Targets: []string{id}, Msg: &mqttfront.Message{Topic: "st/x", Payload: []byte("late"), QoS: 1, ClientID: "pub", ReceivedAt: time.Now()}}
	produceRaw(t, rs[0].node.cfg.inboxTopic("r1"), "r2", rec.encode())
	d3.expect(t, "st/x", "late")
	waitFor(t, defaultWait, "r1 to count its forward", func() bool { return rs[0].router.Stats().Forwarded == 1 })
	if st := rs[2].router.Stats(); st.Received != 1 || st.Forwarded != 0 {
		t.Fatalf("r3 received %d copies and forwarded %d; want 1 and 0", st.Received, st.Forwarded)
	}
	d3.expectNone(t, 300*time.Millisecond)
}

// produceRaw writes one record to partition 0 of topic.
func produceRaw(t *testing.T, topic, key string, value []byte) {
	t.Helper()
	_, bootstrap := testAdmin(t)
	sc := saramaTestConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{bootstrap}, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)}); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// TestClusterRoutingACL: the receiving replica's per-delivery ACL check
// holds for copies from other replicas: a granted wildcard does not carry
// a topic the subscriber may not read.
func TestClusterRoutingACL(t *testing.T) {
	rs := startReplicas(t, 2, nil, func(c *mqttfront.Config) {
		c.Auth.ACL = auth.ACLConfig{NoMatch: auth.NoMatchAllow, Rules: []auth.ACLRule{
			{Permission: "deny", Action: "subscribe", Topics: []string{"acl/secret"}}}}
	})
	sub := connectClient(t, rs[0].addr, clientName("sub"), "", true)
	if code := sub.subscribe(t, "acl/#", 1); code != 1 {
		t.Fatalf("SUBACK acl/# = %#x; want 1 (granted: the ACL denies only part of it)", code)
	}
	waitRoute(t, rs, sub.ClientID(), "acl/#", "r1")
	pub := connectClient(t, rs[1].addr, clientName("pub"), "", true)
	pub.publishQoS(t, "acl/secret", "no", 1)
	pub.publishQoS(t, "acl/open", "yes", 1)
	sub.expect(t, "acl/open", "yes")
	sub.expectNone(t, 300*time.Millisecond)
	if st := rs[0].router.Stats(); st.Received != 2 {
		t.Fatalf("r1 applied %d copies; want 2 (the denied one reached r1 and stopped at its ACL check)", st.Received)
	}
}
