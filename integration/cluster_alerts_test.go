package integration

// Issue 13, "Alerts", with the real metrics: deploy/prometheus/alerts.yml
// (durations scaled down, testAlertRules) in a real Prometheus scraping
// three replicas, one of which is killed with -9 while it holds a device
// whose will has a delay. deploy/alerts_cluster_test.go drives every
// cluster rule with synthetic series; this test checks that the series
// the rules read behave as the rules assume.

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// TestClusterAlertsReplicaKilled: a replica killed with -9 while it holds a
// persistent v5 session whose will has a 20 s delay:
//  1. MQTTBridgeClusterWillsLate fires while the dead replica still owns
//     the session online (its `for`, 3m, is 6 s here; the will is not due
//     yet, as the rule's comment warns for long delays); the janitor fires
//     the will after its delay, which a subscriber on another replica
//     receives once, and the alert resolves (the reap takes the session
//     out of the dead replica's online count);
//  2. MQTTBridgeDown and MQTTBridgeClusterReplicaStale (heartbeat 30 s
//     old) fire for the dead replica;
//  3. MQTTBridgeClusterNoJanitor never fires (the victim is not the
//     janitor) and no rule fails to evaluate.
func TestClusterAlertsReplicaKilled(t *testing.T) {
	prom := requireBinary(t, "prometheus")
	promtool := requireBinary(t, "promtool")
	promtoolCheck(t, promtool, filepath.Join(testenv.RepoRoot(), "deploy", "prometheus", "alerts.yml"))
	rules := testAlertRules(t, t.TempDir())
	c := startCluster(t, 3, nil)
	var targets []string
	for _, r := range c.rs {
		targets = append(targets, r.setup.admin)
	}
	ps := startPrometheusTargets(t, prom, targets, rules)
	waitFor(t, kafkaWait, "prometheus scraping the three replicas, one janitor, no alert active", func() bool {
		return ps.ruleHealth(t) > 0 && len(ps.alerts(t)) == 0 &&
			promQuery(t, ps.addr, `count(up{job="mqtt-kafka-bridge"} == 1)`) == "3" &&
			promQuery(t, ps.addr, `sum(mqtt_bridge_cluster_janitor_held)`) == "1"
	})
	// The victim is a replica that is not the janitor: a killed janitor is
	// replaced within cluster.janitor_session_timeout (6 s) plus a
	// rebalance, longer than NoJanitor's scaled `for` (4 s).
	var victim *clusterReplica
	for _, r := range c.rs {
		if held, ok := scrape(r.setup.admin, "mqtt_bridge_cluster_janitor_held"); ok && held == 0 {
			victim = r
			break
		}
	}
	if victim == nil {
		t.Fatal("no replica without the janitor role")
	}
	var watcher *clusterReplica
	for _, r := range c.rs {
		if r != victim {
			watcher = r
			break
		}
	}

	// A subscriber for the will at another replica, and the device at the
	// victim: persistent (expiry 600 s), will delay 20 s.
	willTopic := "alerts/" + uniq(t, "will")
	var mu sync.Mutex
	var wills []time.Time
	sub := dialV5(t, watcher.setup.mqtt, &paho.Connect{ClientID: uniq(t, "watch"), CleanStart: true}, func(p *paho.Publish) {
		if p.Topic == willTopic {
			mu.Lock()
			wills = append(wills, time.Now())
			mu.Unlock()
		}
	})
	if _, err := sub.Subscribe(t.Context(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: willTopic, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	expiry, delay := uint32(600), uint32(20)
	dialV5(t, victim.setup.mqtt, &paho.Connect{ClientID: uniq(t, "dev"), CleanStart: true,
		Properties:     &paho.ConnectProperties{SessionExpiryInterval: &expiry},
		WillMessage:    &paho.WillMessage{Topic: willTopic, Payload: []byte("gone"), QoS: 1},
		WillProperties: &paho.WillProperties{WillDelayInterval: &delay}}, nil)
	waitFor(t, mqttWait, "the device online at "+victim.id+" in Prometheus", func() bool {
		return promQuery(t, ps.addr, fmt.Sprintf(`max(mqtt_bridge_cluster_replica_sessions{replica=%q,state="online"})`, victim.id)) == "1"
	})

	killed := time.Now()
	victim.kill9(t)
	_, pending := ps.waitAlert(t, "MQTTBridgeClusterWillsLate", kafkaWait, "firing")
	t.Logf("MQTTBridgeClusterWillsLate firing %v after the kill (seen pending: %v)", time.Since(killed).Round(100*time.Millisecond), pending)
	waitFor(t, kafkaWait, "the will at "+watcher.id, func() bool { mu.Lock(); defer mu.Unlock(); return len(wills) > 0 })
	mu.Lock()
	willAt := wills[0].Sub(killed)
	mu.Unlock()
	t.Logf("the will arrived %v after the kill (delay %d s)", willAt.Round(100*time.Millisecond), delay)
	if willAt < time.Duration(delay)*time.Second {
		t.Errorf("the will arrived %v after the kill; its delay is %d s", willAt, delay)
	}
	// The replica down: not scraped (up 0), and its heartbeat 30 s old
	// (the threshold is not scaled) in the others' view.
	ps.waitAlert(t, "MQTTBridgeDown", kafkaWait, "firing")
	ps.waitAlert(t, "MQTTBridgeClusterReplicaStale", kafkaWait, "firing")
	t.Logf("MQTTBridgeClusterReplicaStale firing %v after the kill", time.Since(killed).Round(100*time.Millisecond))

	// The janitor took the session offline when it fired the will, so the
	// rule's series (the dead replica's online sessions) drops to 0 and the
	// alert resolves (before the fix in cluster/reap.go, the reap stored
	// the entry without Claims.putLocked and the count stayed 1).
	series := fmt.Sprintf(`mqtt_bridge_cluster_replica_sessions{replica=%q,state="online"}`, victim.id)
	if !poll(mqttWait, func() bool { v, ok := metricsOf(watcher.setup.admin, series)[series]; return ok && v == 0 }) {
		t.Errorf("after the reap (will fired, janitor counters %v) %s at %s is still %v; want 0",
			metricsOf(watcher.setup.admin, "mqtt_bridge_cluster_janitor_wills_fired_total"), series, watcher.id, metricsOf(watcher.setup.admin, series)[series])
	} else {
		ps.waitAlert(t, "MQTTBridgeClusterWillsLate", kafkaWait, "")
		t.Logf("MQTTBridgeClusterWillsLate resolved %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	}

	mu.Lock()
	if len(wills) != 1 {
		t.Errorf("the will arrived %d times; want once", len(wills))
	}
	mu.Unlock()
	// The janitor's group rebalances when the dead member's session times
	// out: the role pauses for about a group heartbeat (cluster/README.md),
	// so NoJanitor may be pending for a moment (its `for` is 4 s here, 2m
	// shipped), never firing.
	if n := promQuery(t, ps.addr, `count_over_time(ALERTS{alertname="MQTTBridgeClusterNoJanitor",alertstate="firing"}[10m])`); n != "" {
		t.Errorf("MQTTBridgeClusterNoJanitor fired (%s evaluations) although a live replica held the role", n)
	}
	if n := promQuery(t, ps.addr, `count_over_time(ALERTS{alertname="MQTTBridgeClusterNoJanitor",alertstate="pending"}[10m])`); n != "" {
		t.Logf("MQTTBridgeClusterNoJanitor pending for %s evaluations (1 s each) during the janitor group's rebalance", n)
	}
	ps.ruleHealth(t)
}
