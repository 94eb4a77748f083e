package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// clusterTestConfig is a bridge with cluster mode on against the shared
// test Kafka, with a topic prefix unique to the test run (its topics are
// deleted when the test ends).
func clusterTestConfig(t *testing.T, prefix, replicaID string) Config {
	t.Helper()
	bootstrap := testenv.Kafka(t)
	cfg := DefaultConfig()
	cfg.MQTT.Listeners.TCP.Address = "127.0.0.1:0"
	cfg.MQTT.Auth.AllowAnonymous = true
	cfg.MQTT.DataDir = t.TempDir()
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.Kafka.BootstrapServers = []string{bootstrap}
	cfg.Mapping = testkit.TelemetryMapping("")
	cfg.Cluster.Enabled = true
	cfg.Cluster.ReplicaID = replicaID
	cfg.Cluster.TopicPrefix = prefix
	cfg.Cluster.Partitions = 2
	cfg.Cluster.ReplicationFactor = 1
	return cfg
}

// clusterPrefix is a run-unique cluster.topic_prefix; the test's topics
// are deleted afterwards.
func clusterPrefix(t *testing.T) string {
	t.Helper()
	prefix := fmt.Sprintf("test-bridge-cluster.%d.%s.", time.Now().UnixNano(), strings.ReplaceAll(t.Name(), "/", "-"))
	bootstrap := testenv.Kafka(t)
	t.Cleanup(func() {
		sc := sarama.NewConfig()
		admin, err := sarama.NewClusterAdmin([]string{bootstrap}, sc)
		if err != nil {
			return
		}
		defer admin.Close()
		topics, _ := admin.ListTopics()
		for name := range topics {
			if strings.HasPrefix(name, prefix) {
				_ = admin.DeleteTopic(name)
			}
		}
	})
	return prefix
}

// rawConnack sends a CONNECT of protocol level v (4: 3.1.1, 5: 5.0) with
// an empty client id and clean start, and returns the CONNACK's return
// code (3.1.1) or reason code (5.0).
func rawConnack(t *testing.T, addr string, v byte) byte {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var connect []byte
	if v == 5 {
		connect = []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0 /* no properties */, 0, 0 /* client id "" */}
	} else {
		connect = []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 0 /* client id "" */}
	}
	if _, err := nc.Write(connect); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	head := make([]byte, 4) // 0x20, remaining length, flags, code
	if _, err := io.ReadFull(nc, head); err != nil {
		t.Fatalf("reading CONNACK: %v", err)
	}
	if head[0] != 0x20 {
		t.Fatalf("first packet %#x; want CONNACK", head[0])
	}
	return head[3]
}

func getReadyz(t *testing.T, admin string) (int, readiness) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, r
}

// TestClusterCatchUpGatesReadyzAndConnect: with cluster mode on, /readyz
// is 503 with the cluster's reason and CONNECT is refused (v5 0x88, v3
// 0x03) until the node caught up; then both open.
func TestClusterCatchUpGatesReadyzAndConnect(t *testing.T) {
	cfg := clusterTestConfig(t, clusterPrefix(t), "r1")
	// A long id check (2 heartbeat intervals) keeps the node not ready
	// long enough to look at it.
	cfg.Cluster.HeartbeatInterval = 3 * time.Second
	cfg.Cluster.ReplicaTimeout = 10 * time.Second
	b, err := New(cfg, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Cluster() == nil {
		t.Fatal("Cluster() = nil with cluster.enabled")
	}
	testkit.RunBridge(t, b)
	testkit.WaitFor(t, 5*time.Second, "the admin listener", func() bool { return b.AdminAddr() != "" })
	addr := b.Front().Addr("tcp").String()

	code, r := getReadyz(t, b.AdminAddr())
	if code != http.StatusServiceUnavailable || r.Ready || r.Cluster == "ready" || !strings.Contains(r.Reason, "cluster: replica r1") {
		t.Fatalf("/readyz while joining = %d %+v; want 503 with a cluster reason", code, r)
	}
	t.Logf("/readyz while joining: %+v", r)
	if got := rawConnack(t, addr, 5); got != 0x88 {
		t.Errorf("v5 CONNACK %#x while joining; want 0x88 Server unavailable", got)
	}
	if got := rawConnack(t, addr, 4); got != 0x03 {
		t.Errorf("v3.1.1 CONNACK %#x while joining; want 0x03 Server unavailable", got)
	}
	if b.Cluster().State().String() == "ready" {
		t.Fatal("the node became ready during the checks; the refusals above prove nothing")
	}

	select {
	case <-b.Cluster().Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("node not ready after 60s")
	}
	testkit.WaitFor(t, 10*time.Second, "/readyz 200", func() bool { c, _ := getReadyz(t, b.AdminAddr()); return c == http.StatusOK })
	if code, r := getReadyz(t, b.AdminAddr()); r.Cluster != "ready" || r.Reason != "" {
		t.Fatalf("/readyz once caught up = %d %+v; want cluster ready, no reason", code, r)
	}
	if got := rawConnack(t, addr, 5); got != 0 {
		t.Fatalf("v5 CONNACK %#x once ready; want success", got)
	}
	st := b.Front().Stats()
	if st.Disconnects["cluster_not_ready"] != 2 {
		t.Errorf("disconnects %v; want cluster_not_ready 2", st.Disconnects)
	}
	resp, err := http.Get("http://" + b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{`mqtt_bridge_cluster_ready 1`, `mqtt_bridge_cluster_state{state="ready"} 1`,
		`mqtt_bridge_cluster_table_lag_records{table="retained"} 0`, `mqtt_bridge_cluster_live_replicas 1`} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics lacks %q", series)
		}
	}
}

// TestClusterDuplicateReplicaIDIsAStartupError: a second bridge with the
// replica id of a live one stops at start with an error naming the key.
func TestClusterDuplicateReplicaIDIsAStartupError(t *testing.T) {
	prefix := clusterPrefix(t)
	cfg := clusterTestConfig(t, prefix, "same")
	// The window in which a live holder of the id must show itself is 2
	// heartbeat intervals: wide enough for the race detector on a loaded
	// machine.
	cfg.Cluster.HeartbeatInterval = time.Second
	cfg.Cluster.ReplicaTimeout = 5 * time.Second
	first, err := New(cfg, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunBridge(t, first)
	select {
	case <-first.Cluster().Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("first node not ready")
	}

	cfg2 := cfg
	cfg2.MQTT.DataDir = t.TempDir()
	second, err := New(cfg2, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = second.Run(ctx)
	http.DefaultClient.CloseIdleConnections()
	if err == nil || !strings.Contains(err.Error(), `cluster.replica_id "same"`) || !strings.Contains(err.Error(), "in use by a live replica") {
		t.Fatalf("second bridge with replica id \"same\": Run = %v; want a startup error naming cluster.replica_id", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run returned only at the test's deadline")
	}
	t.Logf("refused: %v", err)
}

// TestClusterOffBuildsNothing: with cluster mode off (the default) the
// bridge builds no node, opens no cluster.db, exports no cluster metric and
// /readyz has no cluster field.
func TestClusterOffBuildsNothing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MQTT.Listeners.TCP.Address = "127.0.0.1:0"
	cfg.MQTT.Auth.AllowAnonymous = true
	cfg.MQTT.DataDir = t.TempDir()
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.Kafka.BootstrapServers = []string{"127.0.0.1:1"}
	cfg.Mapping = testkit.TelemetryMapping("")
	b, err := New(cfg, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Cluster() != nil {
		t.Fatal("Cluster() != nil with cluster mode off")
	}
	testkit.RunBridge(t, b)
	testkit.WaitFor(t, 5*time.Second, "the admin listener", func() bool { return b.AdminAddr() != "" })
	if rawConnack(t, b.Front().Addr("tcp").String(), 5) != 0 {
		t.Fatal("CONNECT refused with cluster mode off")
	}
	if _, err := os.Stat(filepath.Join(cfg.MQTT.DataDir, "cluster.db")); !os.IsNotExist(err) {
		t.Fatalf("cluster.db: %v; want it absent", err)
	}
	resp, err := http.Get("http://" + b.AdminAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), `"cluster"`) {
		t.Fatalf("/readyz %s has a cluster field with cluster mode off", body)
	}
	resp, err = http.Get("http://" + b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "mqtt_bridge_cluster_") {
		t.Fatal("/metrics has mqtt_bridge_cluster_* series with cluster mode off")
	}
}
