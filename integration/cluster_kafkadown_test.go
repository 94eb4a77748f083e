package integration

// Issue 13, "Kafka unreachable while clustered": two replicas on a private
// broker reached through a TCP proxy (the broker advertises the proxy, so
// every connection goes through it). Kafka is made unreachable twice: the
// proxy hangs (connections accepted and held silent, as a SIGSTOPped
// broker), then the broker is stopped. During each fault:
//   - existing connections keep publishing to a topic with local
//     subscribers and an uplink rule: acked (spilled), delivered locally;
//   - a CONNECT (it needs a claim: clean start or not) is refused within
//     cluster.claim_timeout: v5 CONNACK 0x88, v3 0x03;
//   - a SUBSCRIBE (its state record cannot be written) gets SUBACK 0x80
//     (v5 Unspecified error, v3 Failure) within the same bound;
//   - a QoS 1/2 publish with a remote subscriber is refused within the
//     same bound: v5 PUBACK/PUBREC 0x80, v3 connection closed.
// When Kafka returns: new CONNECTs succeed, remote deliveries resume, the
// spools drain, nothing acked is lost or reordered (clusterkit.Check), no
// connection was closed by the cluster (no false death of a replica).
// cluster/README.md "Failures" states the rules.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/clusterkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// kdClaimTimeout is the replicas' cluster.claim_timeout and
// cluster.copy_timeout: every refusal must come within it plus kdSlack.
const (
	kdClaimTimeout = 5 * time.Second
	kdSlack        = 3 * time.Second
)

// kdWorld is the test's cluster, broker and traffic.
type kdWorld struct {
	c        *testCluster
	kproxy   *faultkit.Proxy
	upTopic  string
	base     string // MQTT topic prefix of the run
	subLocal *clusterkit.Subscriber
	subRem   *clusterkit.Subscriber
	local    []*clusterkit.Publisher // at r1, to local/<name>: subLocal at r1 and the uplink rule
	remote   []*clusterkit.Publisher // at r1, to remote/<name>: subRem at r2 only
	subRuns  []*running
	pubRuns  []*running
	stop     func() // stops the broker (its data kept)
	start    func() // starts it again
}

func TestClusterKafkaDown(t *testing.T) {
	skipShort(t)
	w := startKafkaDownWorld(t)
	w.outage(t, "hung", w.kproxy.Hang, w.kproxy.Resume, 0)
	// Longer than replica_timeout (5 s) + the janitor group's session
	// timeout (6 s): no replica may take another for dead afterwards.
	w.outage(t, "stopped", w.stop, w.start, 15*time.Second)

	// Recovery, whole run: every acked publish delivered once, in order,
	// the uplink spool drained into Kafka.
	var localSent, remoteSent []clusterkit.Sent
	for _, r := range w.pubRuns {
		r.stop()
	}
	for _, p := range w.local {
		t.Logf("local publisher %s: acked %d, failed %d, connections %d, ack latency %s", p.Name(), p.Acked(), p.Failed(), p.Connects(), clusterkit.AckLatency(p.Sent()))
		if p.Connects() != 1 {
			t.Errorf("local publisher %s connected %d times; want 1 (its connection must survive the outages)", p.Name(), p.Connects())
		}
		localSent = append(localSent, p.Sent()...)
	}
	for _, p := range w.remote {
		t.Logf("remote publisher %s: acked %d, failed %d, connections %d, ack latency %s", p.Name(), p.Acked(), p.Failed(), p.Connects(), clusterkit.AckLatency(p.Sent()))
		remoteSent = append(remoteSent, p.Sent()...)
	}
	waitDelivered(t, w.subLocal, localSent, kafkaWait)
	waitDelivered(t, w.subRem, remoteSent, kafkaWait)
	checkReceipts(t, "local delivery (r1 → r1)", localSent, w.subLocal)
	checkReceipts(t, "remote delivery (r1 → r2)", remoteSent, w.subRem)
	for _, s := range []*clusterkit.Subscriber{w.subLocal, w.subRem} {
		if n := len(s.Connections()); n != 1 {
			t.Errorf("subscriber %s connected %d times (%v); want 1: no connection is closed because Kafka was away", s.ID(), n, s.Failures())
		}
	}
	for _, r := range w.c.rs {
		took, held := waitDrained(t, r.setup.admin)
		t.Logf("%s: spool drained in %v (held %.0f records)", r.id, took.Round(time.Millisecond), held)
	}
	w.checkUplink(t, localSent)
	w.c.checkOneOwner(true, w.subLocal.ID(), w.subRem.ID())
	for _, r := range w.subRuns {
		r.stop()
	}
	for _, r := range w.c.rs {
		t.Logf("%s cluster claims: %v", r.id, metricsOf(r.setup.admin, "mqtt_bridge_cluster_claims_total"))
		for k, v := range metricsOf(r.setup.admin, "mqtt_bridge_cluster_janitor_sessions_reaped_total") {
			if v != 0 {
				t.Errorf("%s: %s = %v; want 0: a replica was taken for dead after Kafka returned", r.id, k, v)
			}
		}
	}
}

// startKafkaDownWorld starts the private broker behind its proxy, the
// uplink topic, replicas r1 and r2 (spool on, claim_timeout and copy_timeout 5 s), the
// persistent subscribers and the publishers, and waits for traffic.
func startKafkaDownWorld(t *testing.T) *kdWorld {
	t.Helper()
	kport := freePortPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kproxy := faultkit.NewProxy(ln, fmt.Sprintf("127.0.0.1:%d", kport))
	ctx, cancel := context.WithCancel(context.Background())
	proxyDone := make(chan error, 1)
	go func() { proxyDone <- kproxy.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-proxyDone; err != nil {
			t.Errorf("kafka proxy: %v", err)
		}
	})
	w := &kdWorld{kproxy: kproxy, base: "kd/" + uniq(t, "run") + "/"}
	_, w.stop, w.start = testenv.StartOwnKafkaAdvertised(t, kport, ln.Addr().(*net.TCPAddr).Port)
	bootstrap := kproxy.Addr().String()
	w.upTopic = uniq(t, "kdup")
	testenv.CreateTopic(t, bootstrap, w.upTopic, 1)
	w.c = &testCluster{t: t, bootstrap: bootstrap, prefix: uniq(t, "cluster") + "."}
	mapping := fmt.Sprintf("  uplink:\n    - name: local\n      mqtt_topic: \"kd/+/local/{device}\"\n      kafka_topic: %q\n      key: \"{device}\"\n", w.upTopic)
	for _, id := range []string{"r1", "r2"} {
		r := newClusterReplicaWith(t, bootstrap, w.c.prefix, id, clusterOpts{mapping: mapping})
		r.sets = append(r.sets, r.setup.spoolSets("kafka.producer.spill_after_ms=500", "cluster.claim_timeout="+kdClaimTimeout.String(), "cluster.copy_timeout="+kdClaimTimeout.String())...)
		w.c.rs = append(w.c.rs, r)
	}
	for _, r := range w.c.rs {
		r.launch(t)
	}
	for _, r := range w.c.rs {
		r.waitReady(t)
	}
	r1, r2 := w.c.rs[0].setup.mqtt, w.c.rs[1].setup.mqtt

	w.subLocal = clusterkit.NewSubscriber(clusterkit.SubscriberConfig{ClientID: uniq(t, "sublocal"), Addr: at(r1),
		Version: 5, Filter: w.base + "local/#", QoS: 1, Persistent: true})
	w.subRem = clusterkit.NewSubscriber(clusterkit.SubscriberConfig{ClientID: uniq(t, "subrem"), Addr: at(r2),
		Version: 5, Filter: w.base + "remote/#", QoS: 2, Persistent: true})
	for _, s := range []*clusterkit.Subscriber{w.subLocal, w.subRem} {
		var err error
		if !poll(mqttWait, func() bool { _, err = s.Connect(context.Background()); return err == nil }) {
			t.Fatal(err) // a first claim on a fresh broker may take longer than claim_timeout
		}
		w.subRuns = append(w.subRuns, runBackground(t, s.Run))
	}
	for _, ps := range []struct {
		where   string
		version byte
		qos     byte
		rate    int
	}{{"local", 4, 1, 20}, {"local", 5, 1, 20}, {"remote", 4, 1, 10}, {"remote", 5, 2, 10}} {
		name := uniq(t, fmt.Sprintf("%sv%d", ps.where, ps.version))
		p := clusterkit.NewPublisher(clusterkit.PublisherConfig{Name: name, Addr: at(r1), Version: ps.version,
			QoS: ps.qos, Topic: w.base + ps.where + "/" + name, Rate: ps.rate})
		if ps.where == "local" {
			w.local = append(w.local, p)
		} else {
			w.remote = append(w.remote, p)
		}
		w.pubRuns = append(w.pubRuns, runBackground(t, p.Run))
	}
	waitFor(t, mqttWait, "traffic to flow to both subscribers", func() bool {
		return len(w.subLocal.Receipts()) >= 20 && len(w.subRem.Receipts()) >= 10
	})
	return w
}

// outage applies fault, checks each case while it lasts, heals it and
// checks the recovery.
func (w *kdWorld) outage(t *testing.T, name string, fault, heal func(), hold time.Duration) {
	t.Helper()
	r1, r2 := w.c.rs[0], w.c.rs[1]
	remoteTopic := w.base + "probe/" + name // outside the subscribers' filters

	// Clients made before the fault, for SUBSCRIBE and the remote publish.
	v5sub := dialV5(t, r2.setup.mqtt, &paho.Connect{ClientID: uniq(t, name+"v5sub"), CleanStart: true}, nil)
	v3sub := dialV3(t, r2.setup.mqtt, uniq(t, name+"v3sub"), true, nil)
	v5pub := dialV5(t, r1.setup.mqtt, &paho.Connect{ClientID: uniq(t, name+"v5pub"), CleanStart: true}, nil)
	v3pub := dialV3(t, r1.setup.mqtt, uniq(t, name+"v3pub"), true, nil)
	// The probe topic has its subscriber at r2 only.
	var probed atomic.Bool
	probe := dialV5(t, r2.setup.mqtt, &paho.Connect{ClientID: uniq(t, name+"probe"), CleanStart: true}, func(*paho.Publish) { probed.Store(true) })
	if _, err := probe.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: remoteTopic, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, mqttWait, "r1 to route "+remoteTopic+" to r2", func() bool {
		resp, err := v5pub.publish(&paho.Publish{Topic: remoteTopic, QoS: 1, Payload: []byte("before")})
		return err == nil && resp.ReasonCode == 0 && probed.Load()
	})
	acked := func(ps []*clusterkit.Publisher) []int64 {
		var out []int64
		for _, p := range ps {
			out = append(out, p.Acked())
		}
		return out
	}

	t.Logf("%s: Kafka goes away", name)
	fault()
	faultAt := time.Now()
	localBefore := acked(w.local)

	var wg sync.WaitGroup
	// CONNECT: refused, bounded, with the spec's code.
	for _, cs := range []struct {
		version byte
		clean   bool
		want    byte
	}{{5, true, 0x88}, {5, false, 0x88}, {4, true, 0x03}, {4, false, 0x03}} {
		wg.Go(func() {
			id := uniq(t, fmt.Sprintf("%sconn-v%d-clean%v", name, cs.version, cs.clean))
			t0 := time.Now()
			cl, err := clusterkit.Connect(context.Background(), clusterkit.Options{Addr: r2.setup.mqtt, ClientID: id,
				Version: cs.version, CleanStart: cs.clean, Expiry: 600, Timeout: 60 * time.Second})
			took := time.Since(t0)
			var re *clusterkit.RefusedError
			switch {
			case err == nil:
				cl.Close()
				t.Errorf("%s: CONNECT v%d clean=%v accepted while Kafka is away; want CONNACK %#x", name, cs.version, cs.clean, cs.want)
			case !errors.As(err, &re) || re.Code != cs.want:
				t.Errorf("%s: CONNECT v%d clean=%v: %v after %v; want CONNACK %#x", name, cs.version, cs.clean, err, took.Round(time.Millisecond), cs.want)
			case took > kdClaimTimeout+kdSlack:
				t.Errorf("%s: CONNECT v%d clean=%v refused %#x after %v; want within claim_timeout %v (+%v)", name, cs.version, cs.clean, re.Code, took.Round(time.Millisecond), kdClaimTimeout, kdSlack)
			default:
				t.Logf("%s: CONNECT v%d clean=%v refused %#x after %v", name, cs.version, cs.clean, re.Code, took.Round(time.Millisecond))
			}
		})
	}
	// SUBSCRIBE: SUBACK 0x80, bounded.
	wg.Go(func() {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		sa, err := v5sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: w.base + "sub/" + name, QoS: 1}}})
		took := time.Since(t0)
		var codes []byte
		if sa != nil {
			codes = sa.Reasons
		}
		if len(codes) != 1 || codes[0] != 0x80 || took > kdClaimTimeout+kdSlack {
			t.Errorf("%s: v5 SUBSCRIBE: SUBACK %v (%v) after %v; want [0x80] within %v", name, codes, err, took.Round(time.Millisecond), kdClaimTimeout+kdSlack)
		} else {
			t.Logf("%s: v5 SUBSCRIBE: SUBACK 0x80 after %v", name, took.Round(time.Millisecond))
		}
	})
	wg.Go(func() {
		t0 := time.Now()
		filter := w.base + "sub3/" + name
		tok := v3sub.Subscribe(filter, 1, nil)
		done := tok.WaitTimeout(60 * time.Second)
		took := time.Since(t0)
		code := byte(0xFF)
		if st, ok := tok.(*mqtt.SubscribeToken); ok && done {
			code = st.Result()[filter]
		}
		if !done || code != 0x80 || took > kdClaimTimeout+kdSlack {
			t.Errorf("%s: v3 SUBSCRIBE: SUBACK %#x (done %v, %v) after %v; want 0x80 within %v", name, code, done, tok.Error(), took.Round(time.Millisecond), kdClaimTimeout+kdSlack)
		} else {
			t.Logf("%s: v3 SUBSCRIBE: SUBACK 0x80 after %v", name, took.Round(time.Millisecond))
		}
	})
	// QoS 1 and 2 publishes with a remote subscriber: refused, bounded.
	for _, qos := range []byte{1, 2} {
		wg.Go(func() {
			t0 := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			resp, err := v5pub.Publish(ctx, &paho.Publish{Topic: remoteTopic, QoS: qos, Payload: []byte(fmt.Sprintf("during qos %d", qos))})
			took := time.Since(t0)
			code := -1
			if resp != nil {
				code = int(resp.ReasonCode)
			}
			if code != 0x80 || took > kdClaimTimeout+kdSlack {
				t.Errorf("%s: v5 QoS %d publish with a remote subscriber: reason %#x (%v) after %v; want 0x80 within %v", name, qos, code, err, took.Round(time.Millisecond), kdClaimTimeout+kdSlack)
			} else {
				t.Logf("%s: v5 QoS %d publish with a remote subscriber: refused 0x80 after %v", name, qos, took.Round(time.Millisecond))
			}
		})
	}
	wg.Go(func() {
		t0 := time.Now()
		tok := v3pub.Publish(remoteTopic, 1, false, []byte("during v3"))
		ok := tok.WaitTimeout(120 * time.Second)
		gone := poll(kdClaimTimeout+kdSlack, func() bool { return !v3pub.IsConnectionOpen() })
		took := time.Since(t0)
		if !gone || took > kdClaimTimeout+kdSlack+time.Second {
			t.Errorf("%s: v3 QoS 1 publish with a remote subscriber: token done %v (%v), connection open %v after %v; want the connection closed within %v",
				name, ok, tok.Error(), v3pub.IsConnectionOpen(), took.Round(time.Millisecond), kdClaimTimeout+kdSlack)
		} else {
			t.Logf("%s: v3 QoS 1 publish with a remote subscriber: connection closed after %v", name, took.Round(time.Millisecond))
		}
	})
	wg.Wait()
	// Existing connections keep publishing (local subscribers, uplink
	// spilled): every local publisher got 40 more acks during the fault.
	waitFor(t, mqttWait, name+": local publishers acked during the fault", func() bool {
		for i, p := range w.local {
			if p.Acked() < localBefore[i]+40 {
				return false
			}
		}
		return true
	})
	t.Logf("%s: local publishers acked %v → %v during %v of fault", name, localBefore, acked(w.local), time.Since(faultAt).Round(time.Millisecond))

	if d := hold - time.Since(faultAt); d > 0 {
		pause(d) // the outage's length, not a wait for a condition
	}
	remoteBefore := acked(w.remote)
	t.Logf("%s: Kafka comes back after %v", name, time.Since(faultAt).Round(time.Millisecond))
	heal()
	healAt := time.Now()
	// New CONNECTs succeed, at both replicas.
	for _, r := range w.c.rs {
		cl := connectRetry(t, clusterkit.Options{Addr: r.setup.mqtt, ClientID: uniq(t, name+"after-"+r.id), Version: 5, Expiry: 600})
		t.Logf("%s: first CONNECT accepted at %s %v after Kafka returned", name, r.id, time.Since(healAt).Round(time.Millisecond))
		cl.Close()
	}
	// The subscription refused during the fault is accepted now. After a
	// hang its sessions partition may refuse until the produce stuck on
	// the hung connection ends (sarama's read timeout: 35 s with the
	// defaults; cluster/README.md "Kafka unreachable"), hence kafkaWait.
	waitFor(t, kafkaWait, name+": SUBSCRIBE accepted again", func() bool {
		sa, err := v5sub.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: w.base + "sub/" + name, QoS: 1}}})
		return err == nil && len(sa.Reasons) == 1 && sa.Reasons[0] == 1
	})
	t.Logf("%s: SUBSCRIBE accepted again %v after Kafka returned", name, time.Since(healAt).Round(time.Millisecond))
	// Remote deliveries resume.
	waitFor(t, kafkaWait, name+": remote publishers acked again", func() bool {
		for i, p := range w.remote {
			if p.Acked() < remoteBefore[i]+10 {
				return false
			}
		}
		return true
	})
	t.Logf("%s: remote publishers acked again %v after Kafka returned", name, time.Since(healAt).Round(time.Millisecond))
}

// checkUplink wants every acked local publish in the uplink topic, each
// publisher's first occurrences in sequence order (one partition).
func (w *kdWorld) checkUplink(t *testing.T, sent []clusterkit.Sent) {
	t.Helper()
	want := map[string]map[int]bool{}
	for _, s := range sent {
		if s.Acked {
			if want[s.Pub] == nil {
				want[s.Pub] = map[int]bool{}
			}
			want[s.Pub][s.Seq] = true
		}
	}
	missing := func(recs []faultkit.Record) int {
		seen := map[string]map[int]bool{}
		for _, r := range recs {
			if k, seq, ok := faultkit.ParsePayload(r.Value); ok {
				if seen[k] == nil {
					seen[k] = map[int]bool{}
				}
				seen[k][seq] = true
			}
		}
		n := 0
		for k, seqs := range want {
			for seq := range seqs {
				if !seen[k][seq] {
					n++
				}
			}
		}
		return n
	}
	var recs []faultkit.Record
	poll(kafkaWait, func() bool {
		recs = recs[:0]
		for _, m := range testenv.ConsumeAll(t, w.c.bootstrap, w.upTopic, kafkaWait) {
			recs = append(recs, faultkit.Record{Key: string(m.Key), Partition: m.Partition, Offset: m.Offset, Value: m.Value})
		}
		return missing(recs) == 0
	})
	last := map[string]int{}
	firsts := map[string]map[int]bool{}
	reordered, dups := 0, 0
	for _, r := range recs {
		k, seq, ok := faultkit.ParsePayload(r.Value)
		if !ok {
			continue
		}
		if firsts[k] == nil {
			firsts[k] = map[int]bool{}
		}
		if firsts[k][seq] {
			dups++
			continue
		}
		firsts[k][seq] = true
		if seq < last[k] {
			reordered++
		}
		last[k] = seq
	}
	n := 0
	for _, seqs := range want {
		n += len(seqs)
	}
	t.Logf("uplink topic: %d records for %d acked local publishes; %d missing, %d duplicates, %d reordered", len(recs), n, missing(recs), dups, reordered)
	if missing(recs) != 0 || reordered != 0 {
		t.Errorf("uplink: %d acked publishes missing from Kafka, %d reordered; want 0 and 0", missing(recs), reordered)
	}
}
