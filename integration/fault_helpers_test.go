package integration

// The fault tests' harness: a private Kafka per test, the bridge as a
// subprocess of the built binary (so it can be killed with SIGKILL and
// restarted on the same data dir), a paho load running in the background,
// the spool's visible state, and reading the test's topic back into
// faultkit records.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

// Fault-test bounds.
const (
	outage        = 30 * time.Second  // Kafka stopped or hanging (the figure)
	drainWait     = 120 * time.Second // the spool empties after Kafka returns
	shutdownBound = 15 * time.Second  // SIGTERM to exit
	rssBound      = 300 << 20         // the bridge's VmRSS while the spool quota is full
	loadRate      = 2000              // msg/s over all load clients
	loadClients   = 10
)

// skipShort skips fault tests under -short: each runs its own Kafka and
// lasts one to two and a half minutes.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault test: needs its own Kafka and 1-2.5 minutes; runs without -short")
	}
}

// freePortPair returns a port p with p and p+1 free a moment ago (Kafka's
// client and controller listeners).
func freePortPair(t testing.TB) int {
	t.Helper()
	return testenv.FreePortPair(t)
}

// faultSetup is one fault test's world: its Kafka, its topic, and the
// fixed ports and dirs its bridge keeps across restarts.
type faultSetup struct {
	bootstrap   string   // what the bridge dials (Kafka, or the proxy in front of it)
	topic       string   // 6 partitions, created up front
	mqtt, admin string   // host:port
	dir         string   // data dir root: dir/mqtt and dir/spool
	config      string   // the YAML file
	env         []string // extra environment of the process (KEY=value)
}

// spoolDir is where the bridge keeps its spool.
func (s *faultSetup) spoolDir() string { return filepath.Join(s.dir, "spool") }

// newFaultSetup writes a config: loopback listeners on fixed free ports,
// anonymous access, one uplink rule load/{device} → topic keyed by device,
// no downlink, the spool on under dir/spool, and the given extra keys
// (dotted, as for --set). Those are passed with --set so that a key the
// bridge does not know fails loudly at start.
func newFaultSetup(t *testing.T, bootstrap, topic string) *faultSetup {
	t.Helper()
	s := &faultSetup{
		bootstrap: bootstrap,
		topic:     topic,
		mqtt:      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		admin:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		dir:       t.TempDir(),
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
  uplink:
    - name: load
      mqtt_topic: "load/{device}"
      kafka_topic: %q
      key: "{device}"
`, s.admin, s.mqtt, filepath.Join(s.dir, "mqtt"), bootstrap, uniq(t, "bridge"), topic)
	s.config = filepath.Join(s.dir, "config.yaml")
	if err := os.WriteFile(s.config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// spoolSets are the --set keys every fault test gives the bridge, plus
// extra (later ones win).
func (s *faultSetup) spoolSets(extra ...string) []string {
	return append([]string{
		"kafka.spool.enabled=true",
		"kafka.spool.dir=" + s.spoolDir(),
		"kafka.spool.fsync=always",
	}, extra...)
}

// bridgeProc is the bridge binary running as a child process.
type bridgeProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startBridgeProc starts the binary with s's config and sets, and waits
// until /healthz answers and the MQTT listener accepts (Kafka may be down,
// so /readyz is not waited for).
func startBridgeProc(t *testing.T, s *faultSetup, sets []string) *bridgeProc {
	t.Helper()
	args := []string{"--config", s.config}
	for _, kv := range sets {
		args = append(args, "--set", kv)
	}
	p := &bridgeProc{t: t, cmd: exec.Command(bridgeBinary(t), args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = cleanEnv(s.env...)
	p.cmd.Dir = s.dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start the bridge: %v", err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("bridge pid %d output (last 40 lines):\n%s", p.cmd.Process.Pid, tail(p.out.String(), 40))
			if dir := os.Getenv("IT_BRIDGE_LOGS"); dir != "" {
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.log", strings.ReplaceAll(t.Name(), "/", "_"), p.cmd.Process.Pid)), []byte(p.out.String()), 0o644)
			}
		}
	})
	waitFor(t, mqttWait, "the bridge's /healthz and MQTT listener", func() bool {
		if p.exited() {
			t.Fatalf("the bridge exited at start: %v\n%s", p.err, tail(p.out.String(), 40))
		}
		if code, _ := httpGet(s.admin, "/healthz"); code != http.StatusOK {
			return false
		}
		c, err := net.DialTimeout("tcp", s.mqtt, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
	return p
}

func (p *bridgeProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *bridgeProc) pid() int { return p.cmd.Process.Pid }

// kill9 sends SIGKILL and waits for the process to be gone.
func (p *bridgeProc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill -9 the bridge: %v", err)
	}
	<-p.done
}

// term sends SIGTERM and returns the exit code and how long the exit took;
// it fails the test if the bridge is still running after bound.
func (p *bridgeProc) term(bound time.Duration) (int, time.Duration) {
	p.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM the bridge: %v", err)
	}
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.t.Fatalf("the bridge did not exit within %v of SIGTERM\n%s", bound, tail(p.out.String(), 40))
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(start)
}

// rss is the process's resident set (VmRSS) in bytes, 0 if unreadable.
func (p *bridgeProc) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v) // "123456 kB"
			if len(f) >= 1 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// readyState is the /readyz body.
type readyState struct {
	Code           int
	Ready          bool   `json:"ready"`
	KafkaConnected bool   `json:"kafka_connected"`
	Spool          string `json:"spool"`
}

func readyz(admin string) readyState {
	code, body := httpGet(admin, "/readyz")
	r := readyState{Code: code}
	_ = json.Unmarshal([]byte(body), &r)
	return r
}

// scrape returns the value of series at admin's /metrics, or false (also
// when the bridge is not answering).
func scrape(admin, series string) (float64, bool) {
	code, body := httpGet(admin, "/metrics")
	if code != http.StatusOK {
		return 0, false
	}
	return findSeries(body, series)
}

// spoolSeries returns the mqtt_bridge_spool_* lines of /metrics but the
// histogram buckets (for the log: what the bridge exposes).
func spoolSeries(admin string) []string {
	_, body := httpGet(admin, "/metrics")
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, "mqtt_bridge_spool_") && !strings.Contains(line, "_bucket{") {
			out = append(out, line)
		}
	}
	return out
}

// waitDrained waits until the spool is empty and the bridge is back on the
// direct path (mqtt_bridge_spool_records 0 and /readyz spool "direct") and
// returns how long it took and how many records the spool held when the
// wait began (-1 if the metric is missing). A spool that does not drain is
// an error, not fatal, so the delivery check still runs and reports.
func waitDrained(t *testing.T, admin string) (time.Duration, float64) {
	t.Helper()
	start := time.Now()
	first, ok := scrape(admin, "mqtt_bridge_spool_records")
	if !ok {
		first = -1
	}
	ok = poll(drainWait, func() bool {
		n, ok := scrape(admin, "mqtt_bridge_spool_records")
		return ok && n == 0 && readyz(admin).Spool == "direct"
	})
	if !ok {
		n, has := scrape(admin, "mqtt_bridge_spool_records")
		t.Errorf("spool not drained after %v: mqtt_bridge_spool_records %v (exposed: %v), /readyz %+v; want 0 and spool \"direct\"", drainWait, n, has, readyz(admin))
	}
	return time.Since(start), first
}

// poll is the kit's Poll: whether cond held within timeout.
var poll = testkit.Poll

// runningLoad is a faultkit.Load running in the background.
type runningLoad struct {
	*faultkit.Load
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startLoad starts the usual load against s: loadClients paho v3 clients,
// 4 devices each, loadRate msg/s of QoS 1 in total, a window of 100
// unacked publishes per client (below the bridge's receive_maximum of
// 128), on load/<device>. cfg fields that are set override these.
func startLoad(t *testing.T, s *faultSetup, cfg faultkit.LoadConfig) *runningLoad {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = strings.ReplaceAll(uniq(t, "dev"), ".", "-")
		if len(cfg.Name) > 40 {
			cfg.Name = cfg.Name[len(cfg.Name)-40:]
		}
		cfg.Name = strings.TrimLeft(cfg.Name, "-")
	}
	cfg.Addr = s.mqtt
	cfg.Topic = "load/%s"
	cfg.QoS = 1
	if cfg.Clients == 0 {
		cfg.Clients = loadClients
	}
	if cfg.Devices == 0 {
		cfg.Devices = 4
	}
	if cfg.Rate == 0 {
		cfg.Rate = loadRate
	}
	if cfg.Window == 0 {
		cfg.Window = 100
	}
	if cfg.PayloadSize == 0 {
		cfg.PayloadSize = 200
	}
	if cfg.Settle == 0 {
		cfg.Settle = 60 * time.Second
	}
	l, err := faultkit.NewLoad(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningLoad{Load: l, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); l.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop ends publishing and waits (up to Settle) for the outstanding acks.
func (r *runningLoad) stop() {
	r.once.Do(func() {
		r.cancel()
		<-r.done
	})
}

// waitAcked waits until n more publishes than now have been acked.
func (r *runningLoad) waitAcked(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	want := r.Acked() + n
	waitFor(t, timeout, fmt.Sprintf("%d acked publishes", want), func() bool { return r.Acked() >= want })
}

// pause lets the load run for d (the length of a phase of the scenario,
// not a wait for a condition).
func pause(d time.Duration) { time.Sleep(d) }

// readBack reads every record of topic below the high watermarks
// (duplicates included) until every acked publish of pubs is among them or
// timeout passes, and returns the last read as faultkit records; what is
// still missing then is for checkDelivery to report.
func readBack(t *testing.T, bootstrap, topic string, pubs []faultkit.Pub, timeout time.Duration) []faultkit.Record {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		all := testenv.ConsumeAll(t, bootstrap, topic, kafkaWait)
		out := make([]faultkit.Record, len(all))
		want := faultkit.NewPresence(pubs)
		for i, m := range all {
			out[i] = faultkit.Record{Key: string(m.Key), Partition: m.Partition, Offset: m.Offset, Value: m.Value}
			want.See(m.Value)
		}
		if want.Left() == 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(2 * time.Second) // poll: Kafka may still be receiving the drain
	}
}

// checkDelivery runs faultkit.Check and fails t on a lost acked message, a
// reordered key or a corrupt record; it logs the duplicates.
func checkDelivery(t *testing.T, l *faultkit.Load, records []faultkit.Record) faultkit.Report {
	t.Helper()
	rep := faultkit.Check(l.Pubs(), records)
	t.Logf("delivery: published %d, acked %d, not acked %d; Kafka: %s", l.Published(), l.Acked(), l.Failed(), rep)
	if !rep.OK() {
		t.Errorf("delivery check failed: %s", rep)
	}
	if rep.Acked == 0 {
		t.Errorf("no publish was acked: the check proved nothing")
	}
	return rep
}

// watcher samples the bridge's /readyz spool state and VmRSS every 200ms.
type watcher struct {
	mu     sync.Mutex
	states []string // distinct states in the order first seen
	peak   int64
	quit   chan struct{}
	done   chan struct{}
}

func watch(p *bridgeProc, admin string) *watcher {
	w := &watcher{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			st := readyz(admin).Spool
			rss := p.rss()
			w.mu.Lock()
			if st != "" && (len(w.states) == 0 || !contains(w.states, st)) {
				w.states = append(w.states, st)
			}
			w.peak = max(w.peak, rss)
			w.mu.Unlock()
			select {
			case <-tick.C:
			case <-w.quit:
				return
			}
		}
	}()
	return w
}

// stop ends the sampling and returns the states seen and the peak RSS.
func (w *watcher) stop() ([]string, int64) {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.states...), w.peak
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// waitKafkaReady waits for /readyz to say Kafka is connected.
func waitKafkaReady(t *testing.T, admin string) {
	t.Helper()
	waitFor(t, kafkaWait, "/readyz kafka_connected", func() bool { return readyz(admin).KafkaConnected })
}
