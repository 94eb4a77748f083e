package cluster

// Shared subscriptions across replicas (issue 12, proof 6): three
// replicas in one process (startReplicas) against the real Kafka.

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// shareMember is one member of a $share group in a test: its client, its
// replica and the QoS it subscribed with.
type shareMember struct {
	c       *client
	replica string
	qos     byte
}

// joinShare connects a member to r and subscribes it to filter.
func joinShare(t *testing.T, r *replica, name, filter string, qos byte) shareMember {
	t.Helper()
	c := connectClient(t, r.addr, clientName(name), "", true)
	if code := c.subscribe(t, filter, qos); code != qos {
		t.Fatalf("SUBACK %s at %s = %#x; want %#x", filter, r.id, code, qos)
	}
	return shareMember{c: c, replica: r.id, qos: qos}
}

// waitSubscribed waits until every replica has applied clientID's
// subscription to filter from the sessions log.
func waitSubscribed(t *testing.T, rs []*replica, clientID, filter string) {
	t.Helper()
	for _, r := range rs {
		waitFor(t, defaultWait, r.id+" to apply "+clientID+"'s "+filter, func() bool {
			st, _, ok := r.node.Claims().State(clientID)
			return ok && slices.ContainsFunc(st.Subscriptions, func(s topics.Sub) bool { return s.Filter == filter })
		})
	}
}

// shareReceipts collects what the members of one group receive.
type shareReceipts struct {
	mu  sync.Mutex
	got map[string][]string // payload -> the members that got it
	by  map[string]int      // replica -> messages its members got
}

// drain reads the members' messages until want distinct payloads arrived
// (or defaultWait passed), then a little longer to catch duplicates. It
// fails on a message delivered at the wrong QoS.
func drain(t *testing.T, members []shareMember, want int, pubQoS byte) *shareReceipts {
	t.Helper()
	rc := &shareReceipts{got: map[string][]string{}, by: map[string]int{}}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var qosErr sync.Once
	var badQoS string
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case p := <-m.c.got:
					if q := min(pubQoS, m.qos); p.QoS != q {
						qosErr.Do(func() {
							badQoS = fmt.Sprintf("%s at %s got %q at QoS %d; want %d", m.c.ClientID(), m.replica, p.Payload, p.QoS, q)
						})
					}
					rc.mu.Lock()
					rc.got[string(p.Payload)] = append(rc.got[string(p.Payload)], m.c.ClientID())
					rc.by[m.replica]++
					rc.mu.Unlock()
				case <-stop:
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(defaultWait)
	for time.Now().Before(deadline) {
		rc.mu.Lock()
		n := len(rc.got)
		rc.mu.Unlock()
		if n >= want {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the receipts
	}
	time.Sleep(500 * time.Millisecond) // duplicates, if any, arrive meanwhile
	close(stop)
	wg.Wait()
	if badQoS != "" {
		t.Fatal(badQoS)
	}
	return rc
}

// check fails unless the receipts are exactly the payloads, once each.
func (rc *shareReceipts) check(t *testing.T, what string, payloads []string) {
	t.Helper()
	var missing, dup []string
	for _, p := range payloads {
		switch n := len(rc.got[p]); {
		case n == 0:
			missing = append(missing, p)
		case n > 1:
			dup = append(dup, p+" ("+strings.Join(rc.got[p], ", ")+")")
		}
	}
	if len(missing) > 0 || len(dup) > 0 || len(rc.got) != len(payloads) {
		t.Fatalf("%s: %d distinct of %d received; missing %v; duplicates %v; per replica %v",
			what, len(rc.got), len(payloads), missing, dup, rc.by)
	}
}

// TestClusterSharedSubscriptions (issue 12, proof 6): a $share group with
// members on all three replicas, publishers at r1 and r2 sending QoS 1:
// the union of the members' receipts is complete with no duplicates, every
// replica's members get a share, each at min(publish, subscription) QoS.
// A second group, with members on r1 and r3 only, gets every message r2
// (holding none of its members) publishes, once.
func TestClusterSharedSubscriptions(t *testing.T) {
	rs := startReplicas(t, 3, nil, nil)
	const filter = "$share/g/sh/+/data"
	var members []shareMember
	for _, r := range rs {
		qos := byte(2)
		if r.id == "r3" {
			qos = 0 // delivered at QoS 0 there
		}
		for i := range 2 {
			members = append(members, joinShare(t, r, fmt.Sprintf("m%s-%d", r.id, i), filter, qos))
		}
	}
	const other = "$share/h/oth/#"
	hMembers := []shareMember{joinShare(t, rs[0], "h1", other, 1), joinShare(t, rs[2], "h3", other, 1)}
	for _, m := range append(slices.Clone(members), hMembers...) {
		f := filter
		if slices.Contains(hMembers, m) {
			f = other
		}
		waitSubscribed(t, rs, m.c.ClientID(), f)
	}

	const n = 60
	var want []string
	var wg sync.WaitGroup
	for _, r := range rs[:2] {
		pub := connectClient(t, r.addr, clientName("pub-"+r.id), "", true)
		for i := range n {
			want = append(want, fmt.Sprintf("%s-%d", r.id, i))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				pub.publishQoS(t, "sh/dev/data", fmt.Sprintf("%s-%d", r.id, i), 1)
			}
		}()
	}
	wg.Wait()
	rc := drain(t, members, len(want), 1)
	rc.check(t, "group g (members on r1, r2, r3; publishers at r1 and r2)", want)
	for _, r := range rs {
		if rc.by[r.id] == 0 {
			t.Errorf("%s's members got none of the %d messages; want a share (per replica %v)", r.id, len(want), rc.by)
		}
	}
	t.Logf("group g: per replica %v", rc.by)
	for _, r := range rs[:2] {
		st := r.router.Stats()
		if st.ShareLocal+st.ShareRemote != n || st.Copies != st.ShareRemote || st.DroppedShare != 0 || st.Forwarded != 0 {
			t.Errorf("%s: %d group deliveries here, %d sent, %d copies, %d dropped, %d forwarded; want %d decided, one copy per one sent, none dropped or forwarded",
				r.id, st.ShareLocal, st.ShareRemote, st.Copies, st.DroppedShare, st.Forwarded, n)
		}
		t.Logf("%s: %d of its %d publishes delivered by a member here, %d sent in a copy", r.id, st.ShareLocal, n, st.ShareRemote)
	}

	pub := connectClient(t, rs[1].addr, clientName("pub-h"), "", true)
	var wantH []string
	for i := range 30 {
		wantH = append(wantH, fmt.Sprintf("h-%d", i))
		pub.publishQoS(t, "oth/x", wantH[i], 1)
	}
	rh := drain(t, hMembers, len(wantH), 1)
	rh.check(t, "group h (members on r1 and r3; publisher at r2)", wantH)
	t.Logf("group h: per replica %v", rh.by)
}

// TestClusterSharedConnectedFirstAndACL: the publishing replica prefers
// replicas with connected members (an offline member at the publisher's
// own replica gets nothing while one is connected at another), and the
// delivery ACL holds: a replica whose only member may not read a topic
// passes the message on to a replica with an allowed member.
func TestClusterSharedConnectedFirstAndACL(t *testing.T) {
	denied := clientName("denied")
	rs := startReplicas(t, 3, nil, func(c *mqttfront.Config) {
		c.Auth.ACL = auth.ACLConfig{NoMatch: auth.NoMatchAllow, Rules: []auth.ACLRule{
			{Permission: auth.PermissionDeny, Action: auth.ActionNameSubscribe, ClientID: denied, Topics: []string{"acl/secret"}}}}
	})

	// Connected first.
	const cf = "$share/c/cf/#"
	offID := clientName("off")
	off := connectClient(t, rs[0].addr, offID, "", true)
	off.subscribe(t, cf, 1)
	off.close()
	waitOffline(t, rs, offID)
	on := joinShare(t, rs[1], "on", cf, 1)
	waitSubscribed(t, rs, on.c.ClientID(), cf)
	pub := connectClient(t, rs[0].addr, clientName("pub"), "", true)
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("cf-%d", i))
		pub.publishQoS(t, "cf/t", want[i], 1)
	}
	drain(t, []shareMember{on}, len(want), 1).check(t, "connected member at r2", want)
	back := connectClient(t, rs[0].addr, offID, "", false)
	if !back.connack.SessionPresent {
		t.Fatalf("offline member back at r1: Session Present 0; want 1")
	}
	back.expectNone(t, 300*time.Millisecond) // nothing was queued for it

	// The ACL: r1's member may not read acl/secret.
	const ag = "$share/a/acl/#"
	c1 := connectClient(t, rs[0].addr, denied, "", true)
	if code := c1.subscribe(t, ag, 1); code != 1 {
		t.Fatalf("SUBACK %s = %#x; want 1", ag, code)
	}
	mA := shareMember{c: c1, replica: "r1", qos: 1}
	mB := joinShare(t, rs[2], "allowed", ag, 1)
	waitSubscribed(t, rs, denied, ag)
	waitSubscribed(t, rs, mB.c.ClientID(), ag)
	before := rs[0].srv.Stats().Drops["delivery_not_authorized"]
	var secret []string
	for i := range 10 {
		secret = append(secret, fmt.Sprintf("s-%d", i))
		pub.publishQoS(t, "acl/secret", secret[i], 1)
	}
	rc := drain(t, []shareMember{mA, mB}, len(secret), 1)
	rc.check(t, "acl/secret", secret)
	if rc.by["r1"] != 0 {
		t.Fatalf("the denied member at r1 got %d secret messages; want 0", rc.by["r1"])
	}
	if n := rs[0].srv.Stats().Drops["delivery_not_authorized"] - before; n == 0 {
		t.Fatalf("r1 counted no delivery_not_authorized; want its picks of its own member denied")
	}
	if st := rs[0].router.Stats(); st.DroppedShare != 0 {
		t.Fatalf("r1 dropped %d group deliveries; want 0 (r3's member is allowed)", st.DroppedShare)
	}
}

// TestClusterSharedStaleCopyForwarded: a group copy that reaches a replica
// with no member of the group (the source's route table was stale) is
// forwarded to a replica holding members and delivered there; one for a
// group no replica holds members of is dropped and counted.
func TestClusterSharedStaleCopyForwarded(t *testing.T) {
	rs := startReplicas(t, 3, nil, nil)
	const g = "$share/f/fw/#"
	m := joinShare(t, rs[2], "m", g, 1)
	waitSubscribed(t, rs, m.c.ClientID(), g)

	rec := copyRecord{Source: "r2", Groups: []shareTarget{{Filter: g}},
		Msg: &mqttfront.Message{Topic: "fw/x", Payload: []byte("late"), QoS: 1, ClientID: "pub", ReceivedAt: time.Now()}}
	produceRaw(t, rs[0].node.cfg.inboxTopic("r1"), "r2", rec.encode())
	m.c.expect(t, "fw/x", "late")
	waitFor(t, defaultWait, "r1 to count its forward", func() bool { return rs[0].router.Stats().Forwarded == 1 })
	if st := rs[2].router.Stats(); st.Received != 1 || st.Forwarded != 0 {
		t.Fatalf("r3 received %d copies and forwarded %d; want 1 and 0", st.Received, st.Forwarded)
	}

	// Nobody holds $share/none/fw/#; r3's member was tried already.
	for _, gt := range []shareTarget{{Filter: "$share/none/fw/#"}, {Filter: g, Tried: []string{"r3"}}} {
		rec.Groups = []shareTarget{gt}
		produceRaw(t, rs[0].node.cfg.inboxTopic("r1"), "r2", rec.encode())
	}
	waitFor(t, defaultWait, "r1 to drop both", func() bool { return rs[0].router.Stats().DroppedShare == 2 })
	m.c.expectNone(t, 300*time.Millisecond)
}

// TestClusterSharedForwardWithSessions: a stale copy at r1 naming a
// session that r3 owns and a $share group only r3 holds is forwarded in
// one copy carrying both (the inbox's forwards under the route view):
// the subscriber and the member each get it once.
func TestClusterSharedForwardWithSessions(t *testing.T) {
	rs := startReplicas(t, 3, nil, nil)
	const g = "$share/fs/fs/#"
	m := joinShare(t, rs[2], "m", g, 1)
	plain := connectClient(t, rs[2].addr, clientName("plain"), "", true)
	if code := plain.subscribe(t, "fs/#", 1); code != 1 {
		t.Fatalf("SUBACK fs/# = %#x; want 1", code)
	}
	waitSubscribed(t, rs, m.c.ClientID(), g)
	waitSubscribed(t, rs, plain.ClientID(), "fs/#")

	rec := copyRecord{Source: "r2", Targets: []string{plain.ClientID()}, Groups: []shareTarget{{Filter: g}},
		Msg: &mqttfront.Message{Topic: "fs/x", Payload: []byte("both"), QoS: 1, ClientID: "pub", ReceivedAt: time.Now()}}
	produceRaw(t, rs[0].node.cfg.inboxTopic("r1"), "r2", rec.encode())
	plain.expect(t, "fs/x", "both")
	m.c.expect(t, "fs/x", "both")
	waitFor(t, defaultWait, "r1 to count its forward", func() bool { return rs[0].router.Stats().Forwarded == 1 })
	if st := rs[2].router.Stats(); st.Received != 1 || st.Forwarded != 0 {
		t.Fatalf("r3 received %d copies and forwarded %d; want 1 (sessions and group in one) and 0", st.Received, st.Forwarded)
	}
	plain.expectNone(t, 300*time.Millisecond)
	m.c.expectNone(t, 100*time.Millisecond)
}

// TestClusterSharedJanitorWill: the will of a device whose replica died,
// fired by the janitor (every replica delivers it to its own plain
// subscribers from the log), reaches exactly one member of a $share group
// with members at both live replicas: the replica that fired it routes
// the group once.
func TestClusterSharedJanitorWill(t *testing.T) {
	rs := startReplicasWith(t, 3, janitorOpts)
	a, r2, r3 := rs[0], rs[1], rs[2]
	const g = "$share/w/will/#"
	members := []shareMember{joinShare(t, r2, "w2a", g, 1), joinShare(t, r2, "w2b", g, 1), joinShare(t, r3, "w3", g, 1)}
	plain := connectClient(t, r3.addr, clientName("plain"), "", true)
	plain.subscribe(t, "will/#", 1)
	for _, m := range members {
		waitSubscribed(t, rs, m.c.ClientID(), g)
	}
	var want []string
	for i := range 3 {
		id := clientName(fmt.Sprintf("dev%d", i))
		want = append(want, "gone-"+id)
		connectWithWill(t, a.addr, id, "will/"+id, "gone-"+id, 0)
		waitFor(t, defaultWait, "the live replicas to see "+id+" online with its will", func() bool {
			for _, r := range []*replica{r2, r3} {
				st, _, ok := r.node.Claims().State(id)
				if !ok || st.Will == nil || !st.DisconnectedAt.IsZero() {
					return false
				}
			}
			return true
		})
	}
	a.kill()
	drain(t, members, len(want), 1).check(t, "wills to group w", want)
	if got := plain.arrivals(len(want)+1, time.Second); len(got) != len(want) {
		t.Fatalf("the plain subscriber got %d wills; want %d, once each", len(got), len(want))
	}
}
