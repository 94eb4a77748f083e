package mqttfront

import (
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
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
