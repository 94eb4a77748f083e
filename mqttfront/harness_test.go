package mqttfront

import (
	"bufio"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// okSink confirms every message at once and records them.
type okSink struct {
	mu   sync.Mutex
	msgs []*Message
}

func (s *okSink) Submit(m *Message, done func(error)) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	if done != nil {
		done(nil)
	}
}

func (s *okSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *okSink) topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ts []string
	for _, m := range s.msgs {
		ts = append(ts, m.Topic)
	}
	return ts
}

// heldSink keeps the completions for the test to call.
type heldSink struct {
	mu    sync.Mutex
	msgs  []*Message
	dones []func(error)
}

func (s *heldSink) Submit(m *Message, done func(error)) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.dones = append(s.dones, done)
	s.mu.Unlock()
}

func (s *heldSink) n() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *heldSink) done(i int, err error) {
	s.mu.Lock()
	d := s.dones[i]
	s.mu.Unlock()
	d(err)
}

// errSink fails every QoS 1/2 message with err.
type errSink struct{ err error }

func (s errSink) Submit(_ *Message, done func(error)) {
	if done != nil {
		done(s.err)
	}
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
// log lines would be too big or too many to keep in the test's output).
func runServerLog(t testing.TB, cfg Config, sink Sink, log *zap.Logger) *testSrv {
	t.Helper()
	if sink == nil {
		sink = &okSink{}
	}
	s, err := New(cfg, sink, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("Run returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testSrv{Server: s, addr: s.Addr("tcp").String(), stop: stop}
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
