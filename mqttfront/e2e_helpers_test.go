package mqttfront_test

// Shared harness of the end-to-end tests: a real server on 127.0.0.1:0, a
// recording sink, poll helpers and real-client constructors (paho v3,
// paho.golang v5). For the cases a client library cannot express (abrupt
// close with a will, silent keepalive, ack order) the tests drive the test
// kit's raw client, internal/testkit/mqttwire, as the package's own tests do.

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// e2eTimeout bounds every wait of the end-to-end tests.
const e2eTimeout = 10 * time.Second

// ---------------------------------------------------------------- server

// testServer is a running server with its listener address and a stop
// function that may be called early (restart tests) and is idempotent.
type testServer struct {
	*mqttfront.Server
	addr string
	stop func()
}

// startServer runs a server on 127.0.0.1:0 with DataDir = t.TempDir(),
// anonymous access allowed, only the TCP listener enabled, then mutate. A nil
// sink is replaced by an immediately confirming recordingSink. The server is
// started and stopped by the folder's one server starter,
// mqttfront.RunTestServer (harness_test.go).
func startServer(t testing.TB, mutate func(*mqttfront.Config), sink mqttfront.Sink) (*mqttfront.Server, string) {
	t.Helper()
	ts := startServerDir(t, t.TempDir(), mutate, sink)
	return ts.Server, ts.addr
}

// startServerDir is startServer with a given data directory, for restarts.
func startServerDir(t testing.TB, dir string, mutate func(*mqttfront.Config), sink mqttfront.Sink) *testServer {
	t.Helper()
	cfg := mqttfront.DefaultConfig()
	cfg.DataDir = dir
	cfg.Auth.AllowAnonymous = true
	cfg.Listeners.TCP = mqttfront.ListenerConfig{Enabled: true, Address: "127.0.0.1:0"}
	cfg.Listeners.TLS.Enabled = false
	cfg.Listeners.TLS.Address = "127.0.0.1:0"
	cfg.Listeners.WS.Enabled = false
	cfg.Listeners.WS.Address = "127.0.0.1:0"
	cfg.Listeners.WSS.Enabled = false
	cfg.Listeners.WSS.Address = "127.0.0.1:0"
	if mutate != nil {
		mutate(&cfg)
	}
	if sink == nil {
		sink = newSink()
	}
	srv, addr, stop := mqttfront.RunTestServer(t, cfg, sink, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)))
	return &testServer{Server: srv, addr: addr, stop: stop}
}

// waitConns waits until the server counts n open connections, e.g. until it
// has seen a client go away.
func waitConns(t testing.TB, srv *mqttfront.Server, n int64) {
	t.Helper()
	waitFor(t, e2eTimeout, fmt.Sprintf("%d open connections", n), func() bool { return srv.Stats().ConnectionsCurrent == n })
}

// ---------------------------------------------------------------- sink

// recordingSink is the kit's recording Sink, as in the package's own
// tests (harness_test.go): newSink confirms at once, newHoldingSink keeps
// completions until the test calls Confirm, newFailingSink fails every
// QoS 1/2 message with err. Held completions still open at the end get
// testkit.ErrTestOver.
type recordingSink = testkit.Sink[*mqttfront.Message]

var _ mqttfront.Sink = (*recordingSink)(nil)

func newSink() *recordingSink                 { return &recordingSink{} }
func newHoldingSink() *recordingSink          { return &recordingSink{Hold: true} }
func newFailingSink(err error) *recordingSink { return &recordingSink{Fail: err} }

// byTopic returns the messages s recorded on topic.
func byTopic(s *recordingSink, topic string) []*mqttfront.Message {
	var out []*mqttfront.Message
	for _, m := range s.Messages() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// ---------------------------------------------------------------- polling

// waitFor is the kit's WaitFor (one poll policy for the module).
var waitFor = testkit.WaitFor

var idSeq atomic.Int64

// clientID returns a unique client id naming the test.
func clientID(t testing.TB, role string) string {
	n := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	if len(n) > 40 {
		n = n[len(n)-40:]
	}
	return fmt.Sprintf("%s-%s-%d", n, role, idSeq.Add(1))
}

// ---------------------------------------------------------------- received messages

// rcv is one message as a client received it.
type rcv struct {
	Topic   string
	Payload string
	QoS     byte
	Retain  bool
	Dup     bool
	Props   *paho.PublishProperties // v5 only
}

// inbox collects received messages from any client kind.
type inbox struct{ r testkit.Recorder[rcv] }

func (b *inbox) add(m rcv)  { b.r.Add(m) }
func (b *inbox) all() []rcv { return b.r.All() }
func (b *inbox) len() int   { return b.r.Len() }

// onTopic returns the received messages on topic.
func (b *inbox) onTopic(topic string) []rcv {
	var out []rcv
	for _, m := range b.all() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// has reports whether a message with topic and payload arrived.
func (b *inbox) has(topic, payload string) bool {
	for _, m := range b.all() {
		if m.Topic == topic && m.Payload == payload {
			return true
		}
	}
	return false
}

// waitN waits until at least n messages arrived.
func (b *inbox) waitN(t testing.TB, n int) []rcv {
	t.Helper()
	waitFor(t, e2eTimeout, fmt.Sprintf("%d messages (have %d)", n, b.len()), func() bool { return b.len() >= n })
	return b.all()
}

// waitMsg waits for topic/payload.
func (b *inbox) waitMsg(t testing.TB, topic, payload string) {
	t.Helper()
	waitFor(t, e2eTimeout, fmt.Sprintf("message %q on %q", payload, topic), func() bool { return b.has(topic, payload) })
}

// v3Handler records into b.
func (b *inbox) v3Handler() mqtt.MessageHandler {
	return func(_ mqtt.Client, m mqtt.Message) {
		b.add(rcv{Topic: m.Topic(), Payload: string(m.Payload()), QoS: m.Qos(), Retain: m.Retained(), Dup: m.Duplicate()})
	}
}

// v5Handler records into b.
func (b *inbox) v5Handler() func(paho.PublishReceived) (bool, error) {
	return func(pr paho.PublishReceived) (bool, error) {
		p := pr.Packet
		b.add(rcv{Topic: p.Topic, Payload: string(p.Payload), QoS: p.QoS, Retain: p.Retain, Dup: p.Duplicate(), Props: p.Properties})
		return true, nil
	}
}

// ---------------------------------------------------------------- paho v3 (3.1 / 3.1.1)

// v3Opts returns client options for addr (a host:port, or a full URL) with
// auto reconnect off, a unique client id and a clean session.
func v3Opts(t testing.TB, addr string) *mqtt.ClientOptions {
	return testkit.V3Options(addr, clientID(t, "v3"))
}

// tryConnectV3 connects a paho v3 client; the client is disconnected in
// t.Cleanup when the connect succeeded.
func tryConnectV3(t testing.TB, o *mqtt.ClientOptions) (mqtt.Client, mqtt.Token) {
	t.Helper()
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(e2eTimeout) {
		t.Fatalf("paho v3 connect did not complete in %v", e2eTimeout)
	}
	t.Cleanup(func() {
		if c.IsConnectionOpen() {
			c.Disconnect(100)
		}
	})
	return c, tok
}

// connectV3 connects or fails the test.
func connectV3(t testing.TB, o *mqtt.ClientOptions) mqtt.Client {
	t.Helper()
	c, tok := tryConnectV3(t, o)
	if err := tok.Error(); err != nil {
		t.Fatalf("paho v3 connect %s: %v", o.ClientID, err)
	}
	return c
}

// waitTok waits for a paho v3 token and fails on error.
func waitTok(t testing.TB, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(e2eTimeout) {
		t.Fatalf("%s: token not done in %v", what, e2eTimeout)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// subV3 subscribes c to filter at qos, recording into b.
func subV3(t testing.TB, c mqtt.Client, filter string, qos byte, b *inbox) {
	t.Helper()
	tok := c.Subscribe(filter, qos, b.v3Handler())
	waitTok(t, tok, "subscribe "+filter)
	if got := tok.(*mqtt.SubscribeToken).Result()[filter]; got >= 0x80 {
		t.Fatalf("SUBACK for %q = 0x%02X; want granted", filter, got)
	}
}

// pubV3 publishes and waits for the flow to complete.
func pubV3(t testing.TB, c mqtt.Client, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	waitTok(t, c.Publish(topic, qos, retain, payload), "publish "+topic)
}

// ---------------------------------------------------------------- paho.golang v5

// v5Client is a connected paho.golang client with what it saw.
type v5Client struct {
	*paho.Client
	conn        net.Conn
	connack     *paho.Connack
	inbox       *inbox
	disconnects chan *paho.Disconnect // server DISCONNECTs
	errs        chan error
}

// v5Config shapes a v5 connection; zero values are sensible defaults.
type v5Config struct {
	connect   *paho.Connect            // ClientID filled in when empty and !emptyID
	emptyID   bool                     // send an empty client id
	configure func(*paho.ClientConfig) // last-minute client config changes
	addr      string
}

// dialV5 connects a paho.golang v5 client to addr. It returns the client
// and the error of Connect (the CONNACK is in c.connack when one arrived).
// The client is disconnected in t.Cleanup.
func dialV5(t testing.TB, addr string, vc v5Config) (*v5Client, error) {
	t.Helper()
	cp := vc.connect
	if cp == nil {
		cp = &paho.Connect{CleanStart: true}
	}
	if cp.ClientID == "" && !vc.emptyID {
		cp.ClientID = clientID(t, "v5")
	}
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	if cp.Properties != nil {
		// paho.golang sends Request Problem Information = 0 unless this is
		// set; tests want the server's default behaviour.
		cp.Properties.RequestProblemInfo = true
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &v5Client{conn: conn, inbox: &inbox{}, disconnects: make(chan *paho.Disconnect, 4), errs: make(chan error, 16)}
	cc := paho.ClientConfig{
		ClientID:          cp.ClientID,
		Conn:              conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){c.inbox.v5Handler()},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.disconnects <- d:
			default:
			}
		},
		OnClientError: func(err error) {
			select {
			case c.errs <- err:
			default:
			}
		},
		PacketTimeout: e2eTimeout,
	}
	if vc.configure != nil {
		vc.configure(&cc)
	}
	c.Client = paho.NewClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	c.connack = ca
	t.Cleanup(func() { c.close() })
	return c, err
}

// connectV5 connects a v5 client or fails the test.
func connectV5(t testing.TB, addr string, vc v5Config) *v5Client {
	t.Helper()
	c, err := dialV5(t, addr, vc)
	if err != nil {
		t.Fatalf("paho.golang connect: %v (connack %+v)", err, c.connack)
	}
	return c
}

// close disconnects normally unless the client already ended.
func (c *v5Client) close() { testkit.CloseV5(c.Client) }

// kill closes the network connection under the client (an abrupt drop).
func (c *v5Client) kill() {
	_ = c.conn.Close()
	<-c.Done()
}

// waitDisconnect waits for a server DISCONNECT and returns it.
func (c *v5Client) waitDisconnect(t testing.TB) *paho.Disconnect {
	t.Helper()
	select {
	case d := <-c.disconnects:
		return d
	case <-time.After(e2eTimeout):
		t.Fatalf("no server DISCONNECT within %v", e2eTimeout)
		return nil
	}
}

// sub subscribes with options and returns the SUBACK reason codes.
func (c *v5Client) sub(t testing.TB, s *paho.Subscribe) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	sa, err := c.Subscribe(ctx, s)
	if err != nil && sa == nil {
		t.Fatalf("v5 subscribe: %v", err)
	}
	return sa.Reasons
}

// subOK subscribes to one filter and requires a granted code.
func (c *v5Client) subOK(t testing.TB, filter string, qos byte) {
	t.Helper()
	r := c.sub(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if len(r) != 1 || r[0] >= 0x80 {
		t.Fatalf("SUBACK for %q = %v; want granted", filter, r)
	}
}

// pub publishes and returns the response and error.
func (c *v5Client) pub(p *paho.Publish) (*paho.PublishResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	return c.Publish(ctx, p)
}

// pubOK publishes and fails the test on error.
func (c *v5Client) pubOK(t testing.TB, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	if _, err := c.pub(&paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: []byte(payload)}); err != nil {
		t.Fatalf("v5 publish %s: %v", topic, err)
	}
}

func u32(v uint32) *uint32 { return &v }
func u16(v uint16) *uint16 { return &v }
