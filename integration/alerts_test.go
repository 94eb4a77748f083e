package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.yaml.in/yaml/v3"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// alertScale shrinks the shipped alerts' durations for the test: every
// `for:`, range selector and offset is divided by it (1m → 2s, 10m → 20s),
// so each alert can be seen pending before it fires.
const alertScale = 30

var (
	reRangeDur  = regexp.MustCompile(`\[([0-9]+[smhd])\]`)
	reOffsetDur = regexp.MustCompile(`\boffset\s+([0-9]+[smhd])\b`)
)

// scaleDuration divides a Prometheus duration by alertScale, at least 1s
// (ranges: 4s, so that rate() has samples at a 1 s scrape).
func scaleDuration(t *testing.T, s string, floor time.Duration) string {
	t.Helper()
	d, err := time.ParseDuration(strings.Replace(s, "d", "h", 1))
	if err != nil {
		t.Fatalf("duration %q in alerts.yml: %v", s, err)
	}
	if strings.HasSuffix(s, "d") {
		d *= 24
	}
	return fmt.Sprintf("%ds", int(max(d/alertScale, floor)/time.Second))
}

// testAlertRules writes the shipped deploy/prometheus/alerts.yml with every
// duration scaled down (scaleDuration); expressions, thresholds and labels
// stay as shipped.
func testAlertRules(t *testing.T, dir string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	changed := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				switch k.Value {
				case "for":
					v.Value = scaleDuration(t, v.Value, time.Second)
					changed++
				case "expr":
					v.Value = reRangeDur.ReplaceAllStringFunc(v.Value, func(m string) string {
						return "[" + scaleDuration(t, m[1:len(m)-1], 4*time.Second) + "]"
					})
					v.Value = reOffsetDur.ReplaceAllStringFunc(v.Value, func(m string) string {
						f := strings.Fields(m)
						return "offset " + scaleDuration(t, f[1], time.Second)
					})
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	if changed == 0 {
		t.Fatal("alerts.yml: no `for:` found to scale")
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "alerts.yml")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// promtoolCheck runs `promtool check rules` on file.
func promtoolCheck(t *testing.T, promtool, file string) {
	t.Helper()
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", file, err, out)
	}
	t.Logf("promtool check rules %s: %s", filepath.Base(file), strings.TrimSpace(string(out)))
}

// promServer is a Prometheus process scraping one bridge.
type promServer struct {
	addr string
	*childProc
}

// startPrometheus runs Prometheus on a free port with a 1 s scrape and
// evaluation interval, job mqtt-kafka-bridge on target, and rules.
func startPrometheus(t *testing.T, bin, target, rules string) *promServer {
	t.Helper()
	return startPrometheusTargets(t, bin, []string{target}, rules)
}

// startPrometheusTargets is startPrometheus with several targets in the
// job (a cluster's replicas).
func startPrometheusTargets(t *testing.T, bin string, targets []string, rules string) *promServer {
	t.Helper()
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: mqtt-kafka-bridge
    static_configs:
      - targets: [%s]
`, rules, strings.Join(quoted, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &promServer{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	p.childProc = startChild(t, "prometheus", exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+p.addr, "--log.level=warn"), 15*time.Second, 30)
	waitFor(t, mqttWait, "prometheus /-/ready", func() bool {
		code, _ := httpGet(p.addr, "/-/ready")
		return code == http.StatusOK
	})
	return p
}

// alerts returns the state (pending or firing) of every active alert by name.
func (p *promServer) alerts(t *testing.T) map[string]string {
	t.Helper()
	code, body := httpGet(p.addr, "/api/v1/alerts")
	if code != http.StatusOK {
		t.Fatalf("prometheus /api/v1/alerts: %d %s", code, body)
	}
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("prometheus /api/v1/alerts: %v", err)
	}
	out := map[string]string{}
	for _, a := range r.Data.Alerts {
		name := a.Labels["alertname"]
		if out[name] != "firing" { // firing wins over pending among an alert's series
			out[name] = a.State
		}
	}
	return out
}

// ruleHealth fails t if a rule did not evaluate cleanly, and returns how
// many rules Prometheus loaded.
func (p *promServer) ruleHealth(t *testing.T) int {
	t.Helper()
	code, body := httpGet(p.addr, "/api/v1/rules")
	if code != http.StatusOK {
		t.Fatalf("prometheus /api/v1/rules: %d %s", code, body)
	}
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("prometheus /api/v1/rules: %v", err)
	}
	n := 0
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			n++
			if rule.Health == "err" {
				t.Errorf("rule %s does not evaluate: %s", rule.Name, rule.LastError)
			}
		}
	}
	return n
}

// waitAlert waits until alert is in one of states and returns how long
// that took and whether it was seen pending on the way.
func (p *promServer) waitAlert(t *testing.T, alert string, timeout time.Duration, states ...string) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	sawPending := false
	var last map[string]string
	if !poll(timeout, func() bool {
		last = p.alerts(t)
		sawPending = sawPending || last[alert] == "pending"
		return slices.Contains(states, last[alert])
	}) {
		t.Fatalf("alert %s not %v within %v; active alerts: %v", alert, states, timeout, last)
	}
	return time.Since(start), sawPending
}

// TestAlertsFire runs the real Prometheus (Debian's package) against a
// real bridge on a private Kafka with the shipped alert rules, durations
// scaled down (testAlertRules):
//  1. promtool check rules passes on the shipped alerts.yml (and the copy);
//  2. a downlink backlog of 1,500 commands for a session whose queue is
//     full fires MQTTBridgeDownlinkLagHigh, which resolves once the
//     session is gone and the consumer caught up;
//  3. stopping Kafka, with no traffic, makes MQTTBridgeKafkaUnreachable
//     pending within 10 s;
//  4. filling the spool quota fires MQTTBridgeSpoolFull;
//  5. after Kafka is back and the spool drained, no alert is left
//     pending or firing.
func TestAlertsFire(t *testing.T) {
	skipShort(t)
	prom := requireBinary(t, "prometheus")
	promtool := requireBinary(t, "promtool")
	promtoolCheck(t, promtool, filepath.Join(testenv.RepoRoot(), "deploy", "prometheus", "alerts.yml"))
	rules := testAlertRules(t, t.TempDir())
	promtoolCheck(t, promtool, rules)

	bootstrap, stopKafka, startKafka := testenv.StartOwnKafka(t, freePortPair(t))
	upTopic, cmdTopic := uniq(t, "up"), uniq(t, "cmd")
	testenv.CreateTopic(t, bootstrap, upTopic, 1)
	testenv.CreateTopic(t, bootstrap, cmdTopic, 1)

	cfg := testConfig(t, bootstrap)
	cfg.Kafka.Spool.Enabled = true
	cfg.Kafka.Spool.Dir = filepath.Join(t.TempDir(), "spool")
	cfg.Kafka.Spool.SegmentBytes = 64 << 10
	cfg.Kafka.Spool.QuotaBytes = 256 << 10
	cfg.Kafka.Producer.SpillAfterMs = 200
	cfg.MQTT.MaxQueuedMessages = 1 // an offline session's queue is full after one command
	cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "up", MQTTTopic: "up/{device}", KafkaTopic: upTopic, Key: "{device}"}}
	cfg.Mapping.Downlink = []mapping.DownlinkRule{{Name: "cmd", KafkaTopics: []string{cmdTopic}, MQTTTopic: "cmd/{key}", QoS: 1}}
	b := startBridge(t, cfg)
	waitFor(t, kafkaWait, "downlink partitions assigned", func() bool {
		n, ok := scrape(b.admin, "mqtt_bridge_downlink_assigned_partitions")
		return ok && n == 1
	})

	ps := startPrometheus(t, prom, b.admin, rules)
	waitFor(t, mqttWait, "prometheus scraping the bridge with every rule loaded, no alert active", func() bool {
		n := ps.ruleHealth(t)
		return n > 0 && len(ps.alerts(t)) == 0 && promQuery(t, ps.addr, `up{job="mqtt-kafka-bridge"}`) == "1"
	})
	t.Logf("prometheus loaded %d rules, all evaluate", ps.ruleHealth(t))

	// --- Downlink lag: a persistent session, offline, queue limit 1.
	dev := uniq(t, "dev")
	c := dialV3(t, b.addr, dev, false, nil)
	waitToken(t, c.Subscribe("cmd/#", 1, nil), "subscribe cmd/#")
	c.Disconnect(250)
	prod := syncProducer(t, bootstrap)
	msgs := make([]*sarama.ProducerMessage, 1500)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: cmdTopic, Key: sarama.StringEncoder("d1"), Value: sarama.StringEncoder(fmt.Sprintf("cmd %d", i))}
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatalf("produce commands: %v", err)
	}
	took, pending := ps.waitAlert(t, "MQTTBridgeDownlinkLagHigh", kafkaWait, "firing")
	lag, _ := scrape(b.admin, "mqtt_bridge_downlink_consumer_lag")
	t.Logf("MQTTBridgeDownlinkLagHigh firing %v after the commands were produced (seen pending: %v); lag %v", took.Round(100*time.Millisecond), pending, lag)
	// The device comes back with a clean session: its queue is gone, the
	// commands have no subscriber left, the consumer catches up.
	c = dialV3(t, b.addr, dev, true, nil)
	c.Disconnect(250)
	waitFor(t, kafkaWait, "downlink lag 0", func() bool { n, ok := scrape(b.admin, "mqtt_bridge_downlink_consumer_lag"); return ok && n == 0 })
	took, _ = ps.waitAlert(t, "MQTTBridgeDownlinkLagHigh", kafkaWait, "")
	t.Logf("MQTTBridgeDownlinkLagHigh resolved %v after the lag reached 0", took.Round(100*time.Millisecond))

	// --- Kafka stopped, no traffic.
	began := time.Now()
	stopKafka()
	took, _ = ps.waitAlert(t, "MQTTBridgeKafkaUnreachable", 10*time.Second, "pending", "firing")
	t.Logf("MQTTBridgeKafkaUnreachable active %v after kafka.sh stop returned (%v after it began)", took.Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
	took, _ = ps.waitAlert(t, "MQTTBridgeKafkaUnreachable", mqttWait, "firing")
	t.Logf("MQTTBridgeKafkaUnreachable firing %v later", took.Round(100*time.Millisecond))

	// --- Spool full: 1 KiB QoS 1 publishes until the quota is reached and
	// Produce blocks.
	pub := dialV3(t, b.addr, uniq(t, "pub"), true, nil)
	payload := bytes.Repeat([]byte("x"), 1024)
	var toks []mqtt.Token
	for i := 0; i < 600; i++ {
		toks = append(toks, pub.Publish("up/d1", 1, false, payload))
	}
	waitFor(t, kafkaWait, "/readyz spool blocked", func() bool { return readyz(b.admin).Spool == "blocked" })
	took, pending = ps.waitAlert(t, "MQTTBridgeSpoolFull", kafkaWait, "firing")
	t.Logf("MQTTBridgeSpoolFull firing %v after the spool blocked (seen pending: %v); active: %v", took.Round(100*time.Millisecond), pending, ps.alerts(t))
	if r := readyz(b.admin); r.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the spool full = %+v; want 503", r)
	}

	// --- Recovery.
	startKafka()
	for _, tok := range toks {
		waitToken(t, tok, "QoS 1 publish after Kafka came back")
	}
	waitDrained(t, b.admin)
	start := time.Now()
	var active map[string]string
	if !poll(kafkaWait, func() bool { active = ps.alerts(t); return len(active) == 0 }) {
		t.Fatalf("alerts still active %v after Kafka is back and the spool drained: %v", kafkaWait, active)
	}
	t.Logf("every alert resolved %v after the spool drained", time.Since(start).Round(100*time.Millisecond))
	pub.Disconnect(250)
}

// promQuery runs an instant query and returns the first sample's value
// ("" if none).
func promQuery(t *testing.T, addr, q string) string {
	t.Helper()
	code, body := httpGet(addr, "/api/v1/query?query="+url.QueryEscape(q))
	if code != http.StatusOK {
		return ""
	}
	var r struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.Data.Result) == 0 || len(r.Data.Result[0].Value) < 2 {
		return ""
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return s
}
