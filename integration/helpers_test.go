package integration

// The shared harness: unique names, a bridge running in-process against the
// real Kafka, MQTT clients (paho v3.1.1 and paho.golang v5), a Kafka reader
// that stops on a condition, a sarama producer, a /metrics scraper and the
// poll helper every wait goes through.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// Generous bounds: Kafka shares two cores with the bridge, the clients and
// the race detector.
const (
	kafkaWait = 90 * time.Second // records to show up in Kafka, groups to settle
	mqttWait  = 30 * time.Second // MQTT round trips
)

// waitFor is the kit's WaitFor (one poll policy for the module).
var waitFor = testkit.WaitFor

// uniq returns a name that is a legal Kafka topic and MQTT client id, made of
// the test's name, what, and a random suffix, so that tests (and reruns
// against the same long-lived broker) never see each other's records.
func uniq(t testing.TB, what string) string {
	var b strings.Builder
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := b.String()
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return name + "." + what + "." + hex.EncodeToString(rnd[:])
}

// requireBinary fails the test when a command-line tool is missing. Outside
// CI a missing tool skips the test instead, with the reason.
func requireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (CI=true requires it): %v", name, err)
	}
	t.Skipf("%s not installed: %v", name, err)
	return ""
}

// ---------------------------------------------------------------- bridge

// testConfig is a bridge config for tests: loopback listeners on port 0
// (TCP only), anonymous access, a private data dir and consumer group, and
// consumption from the earliest offset. Mapping is left to the caller.
func testConfig(t testing.TB, bootstrap string) bridge.Config {
	cfg := bridge.DefaultConfig()
	cfg.Log.Format = "console"
	cfg.Admin.Address = "127.0.0.1:0"
	cfg.MQTT.Listeners.TCP.Enabled = true
	cfg.MQTT.Listeners.TCP.Address = "127.0.0.1:0"
	cfg.MQTT.Listeners.WS.Enabled = false
	cfg.MQTT.Auth.AllowAnonymous = true
	cfg.MQTT.DataDir = t.TempDir()
	cfg.Kafka.BootstrapServers = []string{bootstrap}
	cfg.Kafka.Consumer.GroupID = uniq(t, "group")
	cfg.Kafka.Consumer.AutoOffsetReset = "earliest"
	cfg.Mapping = mapping.DefaultConfig()
	return cfg
}

// testBridge is a bridge running in-process.
type testBridge struct {
	*bridge.Bridge
	addr  string // MQTT TCP listener, host:port
	admin string // admin HTTP listener, host:port
	stop  func() // cancel and wait for Run; idempotent, also run at cleanup
}

// startBridge runs bridge.New(cfg).Run and waits until the MQTT listener
// accepts, the admin listener serves and /readyz says the producer reached
// Kafka. stop fails the test if Run returns an error or takes over 60s.
func startBridge(t testing.TB, cfg bridge.Config) *testBridge {
	t.Helper()
	return startBridgeLog(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)))
}

// startBridgeLog is startBridge with the bridge logging to log.
func startBridgeLog(t testing.TB, cfg bridge.Config, log *zap.Logger) *testBridge {
	t.Helper()
	b, err := bridge.New(cfg, bridge.Options{Logger: log, Version: "integration"})
	if err != nil {
		t.Fatalf("bridge.New: %v", err)
	}
	stop := testkit.RunBridge(t, b)
	tb := &testBridge{Bridge: b, addr: b.Front().Addr("tcp").String(), stop: stop}
	waitFor(t, mqttWait, "admin listener", func() bool { tb.admin = b.AdminAddr(); return tb.admin != "" })
	waitFor(t, kafkaWait, "/readyz 200 (producer connected to Kafka)", func() bool {
		code, _ := httpGet(tb.admin, "/readyz")
		return code == http.StatusOK
	})
	return tb
}

// httpGet fetches http://addr+path and returns the status and body (0 on a
// transport error).
func httpGet(addr, path string) (int, string) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metric scrapes /metrics at admin and returns the value of series, written
// as Prometheus prints it (`name` or `name{a="x",b="y"}`, labels sorted),
// and whether the series was there.
func metric(t testing.TB, admin, series string) (float64, bool) {
	t.Helper()
	code, body := httpGet(admin, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return findSeries(body, series)
}

func findSeries(body, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || line[:i] != series {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		return v, err == nil
	}
	return 0, false
}

// ---------------------------------------------------------------- MQTT clients

// dialV3 connects a paho MQTT 3.1.1 client. Every message, whatever the
// subscription, goes to onMsg (nil: ignored), so messages of a resumed
// session reach it too. The client is disconnected at cleanup.
func dialV3(t testing.TB, addr, clientID string, clean bool, onMsg mqtt.MessageHandler) mqtt.Client {
	t.Helper()
	o := testkit.V3Options(addr, clientID)
	o.SetCleanSession(clean)
	o.SetConnectTimeout(10 * time.Second)
	o.SetWriteTimeout(10 * time.Second)
	o.SetKeepAlive(60 * time.Second)
	o.SetOrderMatters(true)
	if onMsg != nil {
		o.SetDefaultPublishHandler(onMsg)
	}
	c := mqtt.NewClient(o)
	waitToken(t, c.Connect(), "paho v3 connect "+clientID)
	t.Cleanup(func() {
		if c.IsConnectionOpen() {
			c.Disconnect(250)
		}
	})
	return c
}

// waitToken waits for a paho v3 token and fails t on a timeout or error.
func waitToken(t testing.TB, tok mqtt.Token, what string) {
	t.Helper()
	if err := tokenErr(tok); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// tokenErr is waitToken for goroutines that must not call t.Fatal.
func tokenErr(tok mqtt.Token) error {
	if !tok.WaitTimeout(mqttWait) {
		return fmt.Errorf("not done within %v", mqttWait)
	}
	return tok.Error()
}

// v5Client is a connected paho.golang client.
type v5Client struct {
	*paho.Client
	conn net.Conn
}

// dialV5 connects a paho.golang MQTT 5 client with cp (ClientID required)
// and a publish handler (nil: ignored). It is disconnected at cleanup.
func dialV5(t testing.TB, addr string, cp *paho.Connect, onPublish func(*paho.Publish)) *v5Client {
	t.Helper()
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 60
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	cc := paho.ClientConfig{ClientID: cp.ClientID, Conn: conn, PacketTimeout: mqttWait}
	if onPublish != nil {
		cc.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { onPublish(pr.Packet); return true, nil },
		}
	}
	c := &v5Client{Client: paho.NewClient(cc), conn: conn}
	ctx, cancel := context.WithTimeout(context.Background(), mqttWait)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		<-c.Done()
		t.Fatalf("paho.golang connect %s: %v (connack %+v)", cp.ClientID, err, ca)
	}
	t.Cleanup(c.close)
	return c
}

func (c *v5Client) close() { testkit.CloseV5(c.Client) }

// publish publishes p with a bounded wait.
func (c *v5Client) publish(p *paho.Publish) (*paho.PublishResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), mqttWait)
	defer cancel()
	return c.Publish(ctx, p)
}

// ---------------------------------------------------------------- Kafka

// consumeUntil reads topic from the oldest offset of every partition until
// done(records so far) is true, and returns the records in arrival order
// (offset order within a partition). It fails t after timeout.
func consumeUntil(t testing.TB, bootstrap, topic string, timeout time.Duration, done func([]*sarama.ConsumerMessage) bool) []*sarama.ConsumerMessage {
	t.Helper()
	return testenv.ConsumeUntil(t, bootstrap, topic, timeout, done)
}

// syncProducer returns a sarama SyncProducer (acks=all) closed at cleanup.
func syncProducer(t testing.TB, bootstrap string) sarama.SyncProducer {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	if err != nil {
		t.Fatalf("sarama.NewSyncProducer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// headerValues returns every value of header key, in record order.
func headerValues(m *sarama.ConsumerMessage, key string) []string {
	var out []string
	for _, h := range m.Headers {
		if string(h.Key) == key {
			out = append(out, string(h.Value))
		}
	}
	return out
}

// header returns the single value of header key and whether it is there
// exactly once.
func header(m *sarama.ConsumerMessage, key string) (string, bool) {
	vs := headerValues(m, key)
	if len(vs) != 1 {
		return "", false
	}
	return vs[0], true
}

// sharedKafka returns the bootstrap address of the shared test broker,
// starting it if needed (testenv fails the test if it cannot).
func sharedKafka(t testing.TB) string {
	t.Helper()
	return testenv.Kafka(t)
}

// counter is a goroutine-safe tally keyed by string.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
	return c.n[k]
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// contextWithWait is a context bounded by mqttWait, for client calls.
func contextWithWait() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), mqttWait)
}
