package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// healthBound is the figure: every Kafka signal follows a change
// of Kafka's state within 5 s, without traffic.
const healthBound = 5 * time.Second

// kafkaView is what one bridge says about Kafka on its three surfaces.
type kafkaView struct {
	metric    float64 // mqtt_bridge_kafka_connected (-1: missing)
	readyCode int
	ready     readyState
	reachable bool   // /api/v1/overview kafka.reachable
	state     string // /api/v1/overview kafka.state
	reason    string // /api/v1/overview kafka.reason
}

func viewKafka(admin string) kafkaView {
	v := kafkaView{metric: -1}
	if m, ok := scrape(admin, "mqtt_bridge_kafka_connected"); ok {
		v.metric = m
	}
	v.ready = readyz(admin)
	v.readyCode = v.ready.Code
	if code, body := httpGet(admin, "/api/v1/overview"); code == http.StatusOK {
		var o struct {
			Kafka struct {
				Reachable bool   `json:"reachable"`
				State     string `json:"state"`
				Reason    string `json:"reason"`
			} `json:"kafka"`
		}
		_ = json.Unmarshal([]byte(body), &o)
		v.reachable, v.state, v.reason = o.Kafka.Reachable, o.Kafka.State, o.Kafka.Reason
	}
	return v
}

// agrees reports whether all three surfaces say connected == want.
func (v kafkaView) agrees(want bool) bool {
	m := 0.0
	if want {
		m = 1
	}
	return v.metric == m && v.ready.KafkaConnected == want && v.reachable == want
}

// kafkaPID finds the JVM of the private broker listening on port: a
// kafka.Kafka process whose server.properties has that listener.
func kafkaPID(t *testing.T, port int) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	want := fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", port)
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), "kafka.Kafka") {
			continue
		}
		for _, arg := range strings.Split(string(b), "\x00") {
			if !strings.HasSuffix(arg, "server.properties") {
				continue
			}
			props, err := os.ReadFile(arg)
			if err != nil || !strings.Contains(string(props), "listeners="+want+",") {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			return pid
		}
	}
	t.Fatalf("no kafka.Kafka process with listener %s", want)
	return 0
}

// TestHealthFollowsKafka runs two bridges without traffic on a private
// Kafka, one with the spool and one without, and changes Kafka's state:
// stopped, started, hung (SIGSTOP on its JVM), resumed (SIGCONT). After
// each change mqtt_bridge_kafka_connected, /readyz's kafka_connected and
// /api/v1/overview's kafka.reachable must all follow within 5 s, on both
// bridges. /readyz's status keeps its meaning: with the spool it stays 200
// (the uplink accepts by spilling), without it it is 503 while Kafka is
// away.
func TestHealthFollowsKafka(t *testing.T) {
	skipShort(t)
	port := freePortPair(t)
	bootstrap, stopKafka, startKafka := testenv.StartOwnKafka(t, port)
	topic := uniq(t, "up")
	testenv.CreateTopic(t, bootstrap, topic, 2)

	bridges := map[string]*testBridge{}
	for _, spool := range []bool{true, false} {
		cfg := testConfig(t, bootstrap)
		cfg.Kafka.Spool.Enabled = spool
		cfg.Kafka.Spool.Dir = filepath.Join(t.TempDir(), "spool")
		cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "up", MQTTTopic: "up/{device}", KafkaTopic: topic, Key: "{device}"}}
		name := "spool_off"
		if spool {
			name = "spool_on"
		}
		bridges[name] = startBridge(t, cfg)
	}
	// wait polls every bridge together and checks each one's first view
	// that agrees with want, so each is timed from the change itself.
	// began is when the change was started (kafka.sh stop and start
	// return once it is complete; the bound counts from then).
	wait := func(what string, began time.Time, want bool, reason string) {
		t.Helper()
		start := time.Now()
		seen := map[string]kafkaView{}
		took := map[string]time.Duration{}
		last := map[string]kafkaView{}
		poll(healthBound, func() bool {
			for name, b := range bridges {
				if _, ok := seen[name]; ok {
					continue
				}
				v := viewKafka(b.admin)
				last[name] = v
				if v.agrees(want) {
					seen[name], took[name] = v, time.Since(start)
				}
			}
			return len(seen) == len(bridges)
		})
		for name := range bridges {
			v, ok := seen[name]
			if !ok {
				v = last[name]
				t.Errorf("%s: %s: after %v kafka_connected metric %v, /readyz %+v, overview reachable %v (state %q, reason %q); want all %v within %v",
					name, what, time.Since(start).Round(10*time.Millisecond), v.metric, v.ready, v.reachable, v.state, v.reason, want, healthBound)
				continue
			}
			t.Logf("%s: %s: all three surfaces say connected=%v %v after the change was complete, %v after it began (overview state %q, reason %q)",
				name, what, want, took[name].Round(10*time.Millisecond), (start.Sub(began) + took[name]).Round(10*time.Millisecond), v.state, v.reason)
			if reason != "" && v.reason != reason {
				t.Errorf("%s: %s: overview kafka.reason %q; want %q", name, what, v.reason, reason)
			}
			wantCode := http.StatusOK
			if !want && name == "spool_off" {
				wantCode = http.StatusServiceUnavailable
			}
			if v.readyCode != wantCode {
				t.Errorf("%s: %s: /readyz status %d; want %d", name, what, v.readyCode, wantCode)
			}
		}
	}
	wait("Kafka up", time.Now(), true, "ok")

	began := time.Now()
	stopKafka()
	wait("Kafka stopped", began, false, "unreachable")
	began = time.Now()
	startKafka()
	wait("Kafka started again", began, true, "ok")

	pid := kafkaPID(t, port)
	began = time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP the Kafka JVM (pid %d): %v", pid, err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // never leave a stopped JVM behind
	wait("Kafka hung (SIGSTOP)", began, false, "timeout")
	began = time.Now()
	resume()
	wait("Kafka resumed (SIGCONT)", began, true, "ok")
}
