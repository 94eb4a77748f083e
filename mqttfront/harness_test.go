package mqttfront

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// waitFor is the kit's WaitFor (one poll policy for the module).
var waitFor = testkit.WaitFor

// fakeSink is the kit's recording Sink: &fakeSink{} confirms every
// message at once, &fakeSink{Hold: true} keeps the completions for the test
// to give (Confirm), &fakeSink{Fail: err} fails every QoS 1/2 message with
// err. The end-to-end tests (package mqttfront_test) use the same one.
type fakeSink = testkit.Sink[*Message]

// topicsOf returns the topics of the messages s recorded, in order.
func topicsOf(s *fakeSink) []string {
	var ts []string
	for _, m := range s.Messages() {
		ts = append(ts, m.Topic)
	}
	return ts
}

type testSrv struct {
	*Server
	addr string
	stop func()
}

func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.Auth.AllowAnonymous = true
	cfg.Listeners.TCP = ListenerConfig{Enabled: true, Address: "127.0.0.1:0"}
	cfg.SysInterval = 0
	return cfg
}

// runServer starts a server on 127.0.0.1:0; stop (idempotent, also in
// Cleanup) cancels it and waits for Run.
func runServer(t testing.TB, cfg Config, sink Sink) *testSrv {
	t.Helper()
	log := zap.NewNop()
	if _, bench := t.(*testing.B); !bench {
		log = zaptest.NewLogger(t)
	}
	return runServerLog(t, cfg, sink, log)
}

// runServerLog is runServer with a given logger (zap.NewNop for tests whose
// log lines would be too big or too many to keep in the test's output). It
// is the one server starter of the folder: the end-to-end tests reach it
// as RunTestServer. A nil sink is a &fakeSink{}; at the end (stop) held
// completions are given testkit.ErrTestOver before the server stops.
func runServerLog(t testing.TB, cfg Config, sink Sink, log *zap.Logger) *testSrv {
	t.Helper()
	if sink == nil {
		sink = &fakeSink{}
	}
	s, err := New(cfg, sink, log)
	if err != nil {
		t.Fatal(err)
	}
	stopServer := testkit.Start(t, s, s.Ready())
	stop := sync.OnceFunc(func() {
		if h, ok := sink.(interface{ Release(error) }); ok {
			h.Release(testkit.ErrTestOver)
		}
		stopServer()
	})
	t.Cleanup(stop)
	addr := ""
	if a := s.Addr("tcp"); a != nil {
		addr = a.String()
	}
	return &testSrv{Server: s, addr: addr, stop: stop}
}

// RunTestServer is runServerLog for the end-to-end tests in package
// mqttfront_test: the server, its TCP listener's address ("" without
// one) and stop (idempotent, also run at the test's end).
func RunTestServer(t testing.TB, cfg Config, sink Sink, log *zap.Logger) (srv *Server, addr string, stop func()) {
	t.Helper()
	ts := runServerLog(t, cfg, sink, log)
	return ts.Server, ts.addr, ts.stop
}

// wire is a raw MQTT client speaking through the codec.
type wire struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	v  packets.Version
}

func dial(t testing.TB, addr string, v packets.Version) *wire {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &wire{t: t, nc: nc, br: bufio.NewReader(nc), v: v}
}

func (w *wire) send(ps ...*packets.Packet) {
	w.t.Helper()
	var buf []byte
	for _, p := range ps {
		var err error
		buf, err = packets.Encode(buf, p, w.v)
		if err != nil {
			w.t.Fatalf("encode %v: %v", p.Type, err)
		}
	}
	w.sendRaw(buf)
}

func (w *wire) sendRaw(b []byte) {
	w.t.Helper()
	if _, err := w.nc.Write(b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// read returns the next packet or an error (timeout, EOF).
func (w *wire) read(timeout time.Duration) (*packets.Packet, error) {
	_ = w.nc.SetReadDeadline(time.Now().Add(timeout))
	return packets.Read(w.br, w.v, 0)
}

// expect reads the next packet and requires its type.
func (w *wire) expect(typ packets.Type) *packets.Packet {
	w.t.Helper()
	p, err := w.read(5 * time.Second)
	if err != nil {
		w.t.Fatalf("expecting %v: %v", typ, err)
	}
	if p.Type != typ {
		w.t.Fatalf("got %v (%+v); want %v", p.Type, p, typ)
	}
	return p
}

// expectClosed requires the server to close the connection (after any
// packets, which are returned).
func (w *wire) expectClosed(timeout time.Duration) []*packets.Packet {
	w.t.Helper()
	var got []*packets.Packet
	for {
		p, err := w.read(timeout)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				w.t.Fatalf("connection still open after %v (got %d packets)", timeout, len(got))
			}
			return got
		}
		got = append(got, p)
	}
}

// expectNothing requires no packet within d.
func (w *wire) expectNothing(d time.Duration) {
	w.t.Helper()
	p, err := w.read(d)
	if err == nil {
		w.t.Fatalf("unexpected %v %+v", p.Type, p)
	}
}

type connOpt func(*packets.Packet)

func (w *wire) connect(id string, opts ...connOpt) *packets.Packet {
	w.t.Helper()
	p := &packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{
		ProtocolName: "MQTT", ProtocolVersion: w.v, CleanStart: true, KeepAlive: 60, ClientID: id}}
	if w.v == packets.V31 {
		p.Connect.ProtocolName = "MQIsdp"
	}
	for _, o := range opts {
		o(p)
	}
	w.send(p)
	ack := w.expect(packets.CONNACK)
	return ack
}

func persistent(expiry uint32) connOpt {
	return func(p *packets.Packet) {
		p.Connect.CleanStart = false
		if p.Connect.ProtocolVersion == packets.V5 {
			p.Properties.SessionExpiry, p.Properties.SessionExpirySet = expiry, true
		}
	}
}

func withWill(topic, payload string, qos byte, delay uint32) connOpt {
	return func(p *packets.Packet) {
		c := &p.Connect
		c.WillFlag, c.WillTopic, c.WillPayload, c.WillQoS = true, topic, []byte(payload), qos
		c.WillProperties.WillDelay = delay
	}
}

func (w *wire) subscribe(id uint16, filter string, qos byte) *packets.Packet {
	w.t.Helper()
	w.send(&packets.Packet{Type: packets.SUBSCRIBE, PacketID: id, Subscriptions: []packets.Subscription{{Filter: filter, QoS: qos}}})
	return w.expect(packets.SUBACK)
}

func pub(topic, payload string, qos byte, id uint16) *packets.Packet {
	return &packets.Packet{Type: packets.PUBLISH, Topic: topic, Payload: []byte(payload), QoS: qos, PacketID: id}
}
