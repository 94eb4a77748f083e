package bridge

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge/admin"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

// clusterOpsPair runs two replicas, r1 and r2, of one cluster with fast
// heartbeats and an admin user ops:s3cret, and waits until both are ready.
func clusterOpsPair(t *testing.T) (r1, r2 *Bridge, stop2 func(), auth func(*http.Request)) {
	t.Helper()
	prefix := clusterPrefix(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	start := func(id string) (*Bridge, func()) {
		cfg := clusterTestConfig(t, prefix, id)
		cfg.Cluster.HeartbeatInterval = 250 * time.Millisecond
		cfg.Cluster.ReplicaTimeout = 3 * time.Second
		cfg.Admin.Users = []admin.User{{Username: "ops", PasswordHash: string(hash)}}
		b, err := New(cfg, Options{Logger: zaptest.NewLogger(t).Named(id)})
		if err != nil {
			t.Fatal(err)
		}
		stop := testkit.RunBridge(t, b)
		select {
		case <-b.Cluster().Ready():
		case <-time.After(60 * time.Second):
			t.Fatalf("%s not ready after 60s", id)
		}
		return b, stop
	}
	r1, _ = start("r1")
	r2, stop2 = start("r2")
	return r1, r2, stop2, func(r *http.Request) { r.SetBasicAuth("ops", "s3cret") }
}

func getCluster(t *testing.T, b *Bridge, auth func(*http.Request)) admin.ClusterView {
	t.Helper()
	var v admin.ClusterView
	if code := testkit.Call(t, http.MethodGet, testkit.AdminURL(t, b)+"/api/v1/cluster", nil, &v, auth); code != http.StatusOK {
		t.Fatalf("GET /api/v1/cluster on %s: %d", b.Cluster().ID(), code)
	}
	return v
}

func replicaIn(v admin.ClusterView, id string) (admin.ClusterReplica, bool) {
	for _, r := range v.Replicas {
		if r.ID == id {
			return r, true
		}
	}
	return admin.ClusterReplica{}, false
}

func scrape(t *testing.T, b *Bridge) string {
	t.Helper()
	resp, err := http.Get(testkit.AdminURL(t, b) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// TestClusterOpsViewKickAndStop: two replicas in one process against the
// shared Kafka. GET /api/v1/cluster on each lists both with fresh
// heartbeats, their advertised admin and MQTT addresses, and the session
// of a device on r2; the metrics agree. A DELETE /api/v1/clients/{id} at
// r1, which does not hold the device, is forwarded to r2 with the
// caller's credentials and disconnects the device. Once r2's Run stopped,
// r1 sees it stopping, not live, its heartbeat age growing.
func TestClusterOpsViewKickAndStop(t *testing.T) {
	r1, r2, stop2, auth := clusterOpsPair(t)
	dev := testkit.ConnectV3(t, r2.Front().Addr("tcp").String(), "dev-1")

	// Both replicas' views converge: two live replicas, addresses, and
	// dev-1's session at r2.
	var v1, v2 admin.ClusterView
	testkit.WaitFor(t, 20*time.Second, "both views list r1 and r2 with addresses and dev-1 at r2", func() bool {
		v1, v2 = getCluster(t, r1, auth), getCluster(t, r2, auth)
		for _, v := range []admin.ClusterView{v1, v2} {
			a, ok1 := replicaIn(v, "r1")
			b, ok2 := replicaIn(v, "r2")
			if !ok1 || !ok2 || a.AdminAddress == "" || b.AdminAddress == "" || b.Sessions.Online != 1 || v.LiveReplicas != 2 {
				return false
			}
		}
		return true
	})
	for _, tc := range []struct {
		v    admin.ClusterView
		self string
	}{{v1, "r1"}, {v2, "r2"}} {
		if tc.v.Replica != tc.self || tc.v.State != "ready" || !tc.v.Ready || len(tc.v.Tables) != 3 {
			t.Errorf("view of %s: replica %q state %q ready %v tables %+v; want itself, ready, 3 tables", tc.self, tc.v.Replica, tc.v.State, tc.v.Ready, tc.v.Tables)
		}
		for _, tb := range tc.v.Tables {
			if !tb.CaughtUp {
				t.Errorf("view of %s: table %+v not caught up", tc.self, tb)
			}
		}
		for _, b := range []*Bridge{r1, r2} {
			id := b.Cluster().ID()
			r, _ := replicaIn(tc.v, id)
			if r.Self != (id == tc.self) || r.State != "alive" || !r.Live || r.HeartbeatAgeSeconds == nil ||
				*r.HeartbeatAgeSeconds > tc.v.ReplicaTimeoutSeconds || r.InboxLag != nil {
				t.Errorf("view of %s: replica %+v; want alive, live, a fresh heartbeat, self=%v, no inbox lag yet", tc.self, r, id == tc.self)
			}
			if r.AdminAddress != b.AdminAddr() {
				t.Errorf("view of %s: %s admin_address %q; want %q", tc.self, id, r.AdminAddress, b.AdminAddr())
			}
			if want := "mqtt://" + b.Front().Addr("tcp").String(); len(r.MQTTAddresses) != 1 || r.MQTTAddresses[0] != want {
				t.Errorf("view of %s: %s mqtt_addresses %q; want [%s]", tc.self, id, r.MQTTAddresses, want)
			}
		}
	}
	m1, m2 := scrape(t, r1), scrape(t, r2)
	for _, s := range []string{`mqtt_bridge_cluster_replica_state{replica="r2",state="alive"} 1`,
		`mqtt_bridge_cluster_replica_sessions{replica="r2",state="online"} 1`,
		`mqtt_bridge_cluster_sessions_owned{state="online"} 0`, `mqtt_bridge_cluster_replica_heartbeat_age_seconds{replica="r2"}`,
		`mqtt_bridge_cluster_session_repairs_total 0`} {
		if !strings.Contains(m1, s) {
			t.Errorf("r1's /metrics lacks %q", s)
		}
	}
	for _, s := range []string{`mqtt_bridge_cluster_sessions_owned{state="online"} 1`, `mqtt_bridge_cluster_claims_total{result="won"} 1`} {
		if !strings.Contains(m2, s) {
			t.Errorf("r2's /metrics lacks %q", s)
		}
	}

	// A forwarded request is not forwarded again: 409 naming the owner.
	req, _ := http.NewRequest(http.MethodDelete, testkit.AdminURL(t, r1)+"/api/v1/clients/dev-1", nil)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(admin.ForwardedByHeader, "r9")
	auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), `"r2"`) {
		t.Errorf("DELETE forwarded once already: %d %s; want 409 naming r2", resp.StatusCode, body)
	}
	if !dev.IsConnected() {
		t.Fatal("dev-1 disconnected by a refused request")
	}

	// Kick from the replica that does not hold the device.
	var out map[string]any
	code := testkit.Call(t, http.MethodDelete, testkit.AdminURL(t, r1)+"/api/v1/clients/dev-1", nil, &out, auth)
	if code != http.StatusOK || out["disconnected"] != true {
		t.Fatalf("DELETE /api/v1/clients/dev-1 at r1 = %d %v; want 200, disconnected (forwarded to r2)", code, out)
	}
	testkit.WaitFor(t, 10*time.Second, "dev-1 disconnected by the kick", func() bool { return !dev.IsConnected() })
	if code := testkit.Call(t, http.MethodDelete, testkit.AdminURL(t, r1)+"/api/v1/clients/nobody", nil, nil, auth); code != http.StatusNotFound {
		t.Errorf("DELETE of an unknown client at r1 = %d; want 404", code)
	}

	// Stop r2: r1 sees it stopping, and its heartbeat age grows (r1's own
	// heartbeats move the broker's clock on).
	stop2()
	var age float64
	testkit.WaitFor(t, 20*time.Second, "r2 stopping in r1's view", func() bool {
		r, ok := replicaIn(getCluster(t, r1, auth), "r2")
		if ok && r.HeartbeatAgeSeconds != nil {
			age = *r.HeartbeatAgeSeconds
		}
		return ok && r.State == "stopping" && !r.Live
	})
	testkit.WaitFor(t, 20*time.Second, "r2's heartbeat age growing", func() bool {
		r, _ := replicaIn(getCluster(t, r1, auth), "r2")
		return r.HeartbeatAgeSeconds != nil && *r.HeartbeatAgeSeconds > age+0.5
	})
	if v := getCluster(t, r1, auth); v.LiveReplicas != 1 {
		t.Errorf("live_replicas at r1 after r2 stopped = %d; want 1", v.LiveReplicas)
	}
	if m := scrape(t, r1); !strings.Contains(m, `mqtt_bridge_cluster_replica_state{replica="r2",state="stopping"} 1`) {
		t.Error(`r1's /metrics lacks mqtt_bridge_cluster_replica_state{replica="r2",state="stopping"} 1`)
	}
}

// TestClusterAPIOff: with cluster mode off GET /api/v1/cluster answers
// 404 with a JSON error saying so.
func TestClusterAPIOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MQTT.Listeners.TCP.Address = "127.0.0.1:0"
	cfg.MQTT.Auth.AllowAnonymous = true
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.Kafka.BootstrapServers = []string{"127.0.0.1:1"}
	cfg.Mapping = testkit.TelemetryMapping("")
	b, err := New(cfg, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunBridge(t, b)
	var out map[string]string
	if code := testkit.Call(t, http.MethodGet, testkit.AdminURL(t, b)+"/api/v1/cluster", nil, &out, nil); code != http.StatusNotFound ||
		!strings.Contains(out["error"], "cluster mode is off") {
		t.Fatalf("GET /api/v1/cluster with cluster mode off = %d %v; want 404 saying cluster mode is off", code, out)
	}
}
