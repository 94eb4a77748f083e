package integration

// Issue 12, proof item 5: three replicas, one process each (the built
// binary, its own ports and data dir), one real Kafka. A retained message
// set at r1 is seen by subscribers at r2 and r3, is cleared at r2, and the
// retained state survives a restart of all three.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/eclipse/paho.golang/paho"
)

// clusterReplica is one replica's fixed ports, dirs and config file, kept
// across restarts.
type clusterReplica struct {
	id    string
	setup *faultSetup
	proc  *bridgeProc
	sets  []string // --set keys of every start
}

// newClusterReplica writes a config with cluster mode on: replica id,
// the test's topic prefix, loopback listeners on fixed free ports,
// anonymous access, its own data dir, and one uplink rule to a topic the
// test never publishes to (retained test topics are unmatched: dropped).
func newClusterReplica(t *testing.T, bootstrap, prefix, id string) *clusterReplica {
	return newClusterReplicaWith(t, bootstrap, prefix, id, clusterOpts{})
}

// clusterOpts are what a cluster test changes in a replica's config.
type clusterOpts struct {
	// mapping replaces the mapping section's body (YAML indented by two
	// spaces); "" is one uplink rule to a topic never published to.
	mapping string
	sets    []string // --set keys
	env     []string // environment (KEY=value)
}

// newClusterReplicaWith is newClusterReplica with o.
func newClusterReplicaWith(t *testing.T, bootstrap, prefix, id string, o clusterOpts) *clusterReplica {
	t.Helper()
	s := &faultSetup{
		bootstrap: bootstrap,
		mqtt:      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		admin:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		dir:       t.TempDir(),
		env:       o.env,
	}
	mapping := o.mapping
	if mapping == "" {
		mapping = fmt.Sprintf(`  uplink:
    - name: unused
      mqtt_topic: "unused/{device}"
      kafka_topic: %q
`, uniq(t, "unused"))
	}
	yaml := fmt.Sprintf(`log:
  level: info
  format: console
admin:
  address: %q
mqtt:
  listeners:
    tcp: {enabled: true, address: %q}
    ws: {enabled: false}
  auth: {allow_anonymous: true}
  data_dir: %q
kafka:
  bootstrap_servers: [%q]
  client_id: %s
mapping:
%scluster:
  enabled: true
  replica_id: %s
  topic_prefix: %q
  partitions: 4
  replication_factor: 1
  heartbeat_interval: 500ms
  replica_timeout: 5s
`, s.admin, s.mqtt, filepath.Join(s.dir, "mqtt"), bootstrap, uniq(t, id), mapping, id, prefix)
	s.config = filepath.Join(s.dir, "config.yaml")
	if err := os.WriteFile(s.config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return &clusterReplica{id: id, setup: s, sets: o.sets}
}

// start runs the replica's process and waits until /readyz is 200: the
// node caught up with the high-water marks it saw at start.
func (r *clusterReplica) start(t *testing.T) {
	t.Helper()
	r.launch(t)
	r.waitReady(t)
}

// launch runs the replica's process and waits for its /healthz and MQTT
// listener only (several replicas then catch up at once).
func (r *clusterReplica) launch(t *testing.T) {
	t.Helper()
	r.proc = startBridgeProc(t, r.setup, r.sets)
}

// waitReady waits until /readyz is 200: the node caught up with the
// high-water marks it saw at start.
func (r *clusterReplica) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, kafkaWait, r.id+"'s /readyz 200 (caught up)", func() bool {
		if r.proc.exited() {
			t.Fatalf("%s exited: %v\n%s", r.id, r.proc.err, tail(r.proc.out.String(), 40))
		}
		return readyz(r.setup.admin).Code == 200
	})
}

// retainedAt subscribes a fresh MQTT 5 client at addr to topic and returns
// the retained message delivered for it ("" and false when none). A
// self-published marker on a second topic bounds the wait: the retained
// delivery of a SUBSCRIBE is queued before the marker the same client
// publishes after its SUBACK.
func retainedAt(t *testing.T, addr, topic string) (string, bool) {
	t.Helper()
	var mu sync.Mutex
	var got []*paho.Publish
	marker := topic + "/marker"
	seen := make(chan struct{})
	var once sync.Once
	c := dialV5(t, addr, &paho.Connect{ClientID: uniq(t, "probe"), CleanStart: true}, func(p *paho.Publish) {
		if p.Topic == marker {
			once.Do(func() { close(seen) })
			return
		}
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	})
	defer c.close()
	ctx, cancel := contextWithWait()
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}, {Topic: marker, QoS: 1}}}); err != nil {
		t.Fatalf("subscribe at %s: %v", addr, err)
	}
	if _, err := c.publish(&paho.Publish{Topic: marker, QoS: 1, Payload: []byte("m")}); err != nil {
		t.Fatalf("marker publish at %s: %v", addr, err)
	}
	select {
	case <-seen:
	case <-time.After(mqttWait):
		t.Fatalf("marker not received at %s", addr)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range got {
		if p.Topic == topic && p.Retain {
			return string(p.Payload), true
		}
	}
	return "", false
}

// publishRetained publishes a retained QoS 1 message at addr and wants a
// success PUBACK (sent once the retained record is in Kafka).
func publishRetained(t *testing.T, addr, topic, payload string) {
	t.Helper()
	c := dialV5(t, addr, &paho.Connect{ClientID: uniq(t, "pub"), CleanStart: true}, nil)
	defer c.close()
	resp, err := c.publish(&paho.Publish{Topic: topic, QoS: 1, Retain: true, Payload: []byte(payload)})
	if err != nil {
		t.Fatalf("retained publish %s=%q at %s: %v", topic, payload, addr, err)
	}
	if resp != nil && resp.ReasonCode != 0 {
		t.Fatalf("retained publish %s=%q at %s: PUBACK %#x; want success", topic, payload, addr, resp.ReasonCode)
	}
}

func TestClusterRetained(t *testing.T) {
	skipShort(t)
	bootstrap := sharedKafka(t)
	prefix := uniq(t, "cluster") + "."
	t.Cleanup(func() { deleteTopicsWithPrefix(t, bootstrap, prefix) })
	var rs []*clusterReplica
	for _, id := range []string{"r1", "r2", "r3"} {
		rs = append(rs, newClusterReplica(t, bootstrap, prefix, id))
	}
	for _, r := range rs {
		r.start(t)
	}
	r1, r2, r3 := rs[0], rs[1], rs[2]
	topicA, topicB := "ret/"+uniq(t, "a"), "ret/"+uniq(t, "b")

	// Set at r1: seen by subscribers at r2 and r3 (and r1).
	publishRetained(t, r1.setup.mqtt, topicA, "set at r1")
	for _, r := range rs {
		waitFor(t, mqttWait, "the retained message at "+r.id, func() bool {
			v, ok := retainedAt(t, r.setup.mqtt, topicA)
			return ok && v == "set at r1"
		})
	}
	// Cleared at r2: gone everywhere.
	publishRetained(t, r2.setup.mqtt, topicA, "")
	for _, r := range rs {
		waitFor(t, mqttWait, "the clear at "+r.id, func() bool {
			_, ok := retainedAt(t, r.setup.mqtt, topicA)
			return !ok
		})
	}
	// One more, set at r3, for the restart.
	publishRetained(t, r3.setup.mqtt, topicB, "set at r3")
	for _, r := range rs {
		waitFor(t, mqttWait, topicB+" at "+r.id, func() bool {
			v, ok := retainedAt(t, r.setup.mqtt, topicB)
			return ok && v == "set at r3"
		})
	}

	// A restart of all three: every one stops, then every one starts on its
	// data dir.
	for _, r := range rs {
		if code, took := r.proc.term(shutdownBound); code != 0 {
			t.Fatalf("%s exited with %d after SIGTERM (%v)", r.id, code, took)
		}
	}
	for _, r := range rs {
		r.start(t)
	}
	for _, r := range rs {
		if v, ok := retainedAt(t, r.setup.mqtt, topicB); !ok || v != "set at r3" {
			t.Errorf("after the restart %s has %s = %q (%v); want \"set at r3\"", r.id, topicB, v, ok)
		}
		if v, ok := retainedAt(t, r.setup.mqtt, topicA); ok {
			t.Errorf("after the restart %s has the cleared %s = %q; want none", r.id, topicA, v)
		}
		// A warm restart: the retained messages come from the cache
		// (applied: set), and nothing was read from the retained topic, which
		// did not change while they were down.
		read, _ := scrape(r.setup.admin, `mqtt_bridge_cluster_table_records_applied_total{table="retained"}`)
		sets, _ := scrape(r.setup.admin, `mqtt_bridge_cluster_retained_applied_total{op="set"}`)
		if read != 0 || sets != 1 {
			t.Errorf("%s after a warm restart: %v retained records read from Kafka, %v restored; want 0 and 1", r.id, read, sets)
		}
	}
}

// deleteTopicsWithPrefix removes the test's internal topics from the
// shared Kafka.
func deleteTopicsWithPrefix(t *testing.T, bootstrap, prefix string) {
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, sarama.NewConfig())
	if err != nil {
		t.Logf("delete topics %s*: %v", prefix, err)
		return
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return
	}
	for name := range topics {
		if strings.HasPrefix(name, prefix) {
			_ = admin.DeleteTopic(name)
		}
	}
}
