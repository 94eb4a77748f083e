package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// TestDashboardInBrowser loads the dashboard in headless Chromium (the
// Debian chromium and chromium-driver packages), driven by chromedriver over
// the W3C WebDriver protocol: it opens the clients page by clicking its
// link, waits for a connected paho client to be listed, and saves
// screenshots to integration/artifacts/. Kafka is not needed (the bridge
// runs with an unreachable bootstrap server). Without chromium it skips,
// except under CI=true, where it fails.
func TestDashboardInBrowser(t *testing.T) {
	driverPath, browserPath := findChromium(t)

	cfg := testConfig(t, "127.0.0.1:1")
	cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "telemetry", MQTTTopic: "devices/{device}/telemetry", KafkaTopic: "iot.telemetry", Key: "{device}"}}
	b := startBridgeNoKafka(t, cfg)
	clientID := uniq(t, "dash-client")
	dialV3(t, b.Front().Addr("tcp").String(), clientID, true, nil)

	wd := startWebDriver(t, driverPath, browserPath)
	wd.post(t, "/window/rect", map[string]any{"width": 1280, "height": 900}, nil)
	wd.navigate(t, "http://"+b.AdminAddr()+"/")
	wd.waitText(t, "#cards", "Connections", 20*time.Second)
	wd.screenshot(t, "dashboard_overview.png")

	wd.click(t, wd.find(t, "#nav-clients"))
	text := wd.waitText(t, "#clients-table tbody", clientID, 20*time.Second)
	if !strings.Contains(text, "3.1.1") {
		t.Errorf("clients table row %q; want the protocol version 3.1.1", text)
	}
	wd.screenshot(t, "dashboard_clients.png")

	// Disconnect through the button and its confirm() dialog.
	wd.click(t, wd.find(t, "#clients-table button.kick"))
	var alert string
	waitFor(t, 10*time.Second, "confirm dialog", func() bool {
		return wd.do("GET", "/session/"+wd.session+"/alert/text", nil, &alert) == nil
	})
	if !strings.Contains(alert, clientID) {
		t.Errorf("confirm text %q; want it to name %s", alert, clientID)
	}
	wd.post(t, "/alert/accept", map[string]any{}, nil)
	waitFor(t, 20*time.Second, "client gone from the bridge", func() bool { return len(b.Front().Clients()) == 0 })
	if n := b.Front().Stats().Disconnects["admin_kick"]; n != 1 {
		t.Errorf("disconnects{admin_kick} = %d; want 1", n)
	}

	// Routes and the explain form.
	wd.click(t, wd.find(t, "#nav-routes"))
	wd.waitText(t, "#routes-table tbody", "devices/{device}/telemetry", 20*time.Second)
	wd.click(t, wd.find(t, "#nav-explain"))
	wd.post(t, "/element/"+wd.find(t, "#ex-topic")+"/value", map[string]string{"text": "devices/d7/telemetry"}, nil)
	wd.click(t, wd.find(t, "#ex-run"))
	out := wd.waitText(t, "#explain-out", "iot.telemetry", 20*time.Second)
	if !strings.Contains(out, `"key": "d7"`) {
		t.Errorf("explain output %q; want key d7", out)
	}
	wd.screenshot(t, "dashboard_explain.png")

	// The cluster page with cluster mode off says so (GET cluster: 404).
	wd.click(t, wd.find(t, "#nav-cluster"))
	wd.waitText(t, "#cluster-summary", "cluster mode is off", 20*time.Second)
}

// TestDashboardClusterInBrowser: with cluster mode on (one replica, the
// shared Kafka), the dashboard's Cluster page lists the replica as alive,
// this one, with its admin address and its tables caught up.
func TestDashboardClusterInBrowser(t *testing.T) {
	skipShort(t)
	driverPath, browserPath := findChromium(t)
	bootstrap := sharedKafka(t)
	prefix := uniq(t, "cluster") + "."
	t.Cleanup(func() { deleteTopicsWithPrefix(t, bootstrap, prefix) })
	cfg := testConfig(t, bootstrap)
	cfg.Cluster.Enabled, cfg.Cluster.ReplicaID, cfg.Cluster.TopicPrefix = true, "dash-r1", prefix
	cfg.Cluster.Partitions, cfg.Cluster.ReplicationFactor = 2, 1
	cfg.Cluster.HeartbeatInterval, cfg.Cluster.ReplicaTimeout = 250*time.Millisecond, 3*time.Second
	b := startBridgeNoKafka(t, cfg)
	select {
	case <-b.Cluster().Ready():
	case <-time.After(kafkaWait):
		t.Fatal("cluster node not ready")
	}

	wd := startWebDriver(t, driverPath, browserPath)
	wd.post(t, "/window/rect", map[string]any{"width": 1280, "height": 900}, nil)
	wd.navigate(t, "http://"+b.AdminAddr()+"/#cluster")
	row := wd.waitText(t, "#cluster-table tbody", "dash-r1 (this one)", 20*time.Second)
	if !strings.Contains(row, "alive") || !strings.Contains(row, b.AdminAddr()) {
		t.Errorf("cluster table %q; want dash-r1 alive at %s", row, b.AdminAddr())
	}
	if txt := wd.waitText(t, "#cluster-tables tbody", "sessions", 20*time.Second); strings.Contains(txt, "no") {
		t.Errorf("tables %q; want every table caught up", txt)
	}
	wd.waitText(t, "#cluster-summary", "live replicas: 1 of 1", 20*time.Second)
	wd.screenshot(t, "dashboard_cluster.png")
}

// findChromium returns chromedriver's and chromium's paths, or skips (fails
// under CI=true) when either is missing.
func findChromium(t *testing.T) (driver, browser string) {
	t.Helper()
	driver, err := exec.LookPath("chromedriver")
	if err == nil {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if browser, err = exec.LookPath(name); err == nil {
				break
			}
		}
	}
	if err != nil {
		msg := "headless Chromium not installed (apt-get install chromium chromium-driver): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return driver, browser
}

// startBridgeNoKafka runs the bridge like startBridge but does not wait
// for Kafka: the dashboard works without it.
func startBridgeNoKafka(t *testing.T, cfg bridge.Config) *bridge.Bridge {
	t.Helper()
	b, err := bridge.New(cfg, bridge.Options{Logger: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), Version: "browser-test"})
	if err != nil {
		t.Fatalf("bridge.New: %v", err)
	}
	testkit.RunBridge(t, b)
	waitFor(t, mqttWait, "admin listener", func() bool { return b.AdminAddr() != "" })
	return b
}

// ---------------------------------------------------------------- a tiny WebDriver client

// webDriver is one chromedriver process and one browser session.
type webDriver struct {
	base    string // http://127.0.0.1:port
	session string
	http    *http.Client
}

// elementKey is the W3C web element identifier.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

func startWebDriver(t *testing.T, driverPath, browserPath string) *webDriver {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(driverPath, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1")
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromedriver: %v", err)
	}
	wd := &webDriver{base: "http://127.0.0.1:" + strconv.Itoa(port), http: &http.Client{Timeout: 60 * time.Second}}
	t.Cleanup(func() {
		if wd.session != "" {
			_ = wd.do("DELETE", "/session/"+wd.session, nil, nil)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		wd.http.CloseIdleConnections()
		if t.Failed() {
			t.Logf("chromedriver output:\n%s", logBuf.String())
		}
	})
	waitFor(t, 20*time.Second, "chromedriver ready", func() bool {
		var st struct {
			Ready bool `json:"ready"`
		}
		return wd.do("GET", "/status", nil, &st) == nil && st.Ready
	})
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": browserPath,
			"args": []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--no-first-run", "--user-data-dir=" + t.TempDir()},
		},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := wd.do("POST", "/session", caps, &sess); err != nil {
		t.Fatalf("new WebDriver session: %v", err)
	}
	wd.session = sess.SessionID
	return wd
}

// do sends one command; out receives the response's "value".
func (wd *webDriver) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, wd.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := wd.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %d %q", method, path, resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(env.Value, &e)
		return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, e.Error, e.Message)
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

// post sends a command of the session and fails t on error.
func (wd *webDriver) post(t *testing.T, path string, body, out any) {
	t.Helper()
	if err := wd.do("POST", "/session/"+wd.session+path, body, out); err != nil {
		t.Fatal(err)
	}
}

func (wd *webDriver) navigate(t *testing.T, url string) {
	t.Helper()
	wd.post(t, "/url", map[string]string{"url": url}, nil)
}

// findErr looks up one element by CSS selector.
func (wd *webDriver) findErr(css string) (string, error) {
	var v map[string]any
	if err := wd.do("POST", "/session/"+wd.session+"/element", map[string]string{"using": "css selector", "value": css}, &v); err != nil {
		return "", err
	}
	id, _ := v[elementKey].(string)
	if id == "" {
		return "", fmt.Errorf("no element id in the answer %v", v)
	}
	return id, nil
}

func (wd *webDriver) find(t *testing.T, css string) string {
	t.Helper()
	id, err := wd.findErr(css)
	if err != nil {
		t.Fatalf("find %s: %v", css, err)
	}
	return id
}

func (wd *webDriver) text(id string) (string, error) {
	var s string
	err := wd.do("GET", "/session/"+wd.session+"/element/"+id+"/text", nil, &s)
	return s, err
}

func (wd *webDriver) click(t *testing.T, id string) {
	t.Helper()
	wd.post(t, "/element/"+id+"/click", map[string]any{}, nil)
}

// waitText polls the visible text of the element css until it contains
// want, and returns it.
func (wd *webDriver) waitText(t *testing.T, css, want string, timeout time.Duration) string {
	t.Helper()
	var last string
	var lastErr error
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if id, err := wd.findErr(css); err == nil {
			if last, lastErr = wd.text(id); lastErr == nil && strings.Contains(last, want) {
				return last
			}
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	wd.screenshot(t, "failure_"+strings.NewReplacer("#", "", " ", "_").Replace(css)+".png")
	t.Fatalf("%s text %q (err %v) after %v; want it to contain %q", css, last, lastErr, timeout, want)
	return ""
}

// screenshot saves a PNG of the viewport under integration/artifacts/.
func (wd *webDriver) screenshot(t *testing.T, name string) {
	t.Helper()
	var b64 string
	if err := wd.do("GET", "/session/"+wd.session+"/screenshot", nil, &b64); err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	dir, err := filepath.Abs("artifacts")
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	path := filepath.Join(dir, name)
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		t.Errorf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
