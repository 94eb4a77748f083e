package benchkit

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

// recordSink confirms every message, at once or after hold, and checks what
// arrives: payloads that decode, each client's sequence numbers in order,
// and the most QoS 1/2 messages awaiting confirmation at one time.
type recordSink struct {
	hold time.Duration

	mu         sync.Mutex
	n          int
	bad        int // payloads that do not decode or name another client
	disorder   int // a sequence number not above the client's previous one
	last       map[string]uint64
	pending    int
	maxPending int
}

func (s *recordSink) Submit(m *mqttfront.Message, done func(error)) {
	client, seq, _, err := DecodePayload(m.Payload) // the payload is not ours after Submit
	s.mu.Lock()
	s.n++
	if err != nil || client != m.ClientID {
		s.bad++
	} else {
		if prev, ok := s.last[client]; ok && seq <= prev {
			s.disorder++
		}
		if s.last == nil {
			s.last = map[string]uint64{}
		}
		s.last[client] = seq
	}
	if done != nil {
		s.pending++
		s.maxPending = max(s.maxPending, s.pending)
	}
	s.mu.Unlock()
	if done == nil {
		return
	}
	confirm := func() {
		s.mu.Lock()
		s.pending--
		s.mu.Unlock()
		done(nil)
	}
	if s.hold > 0 {
		time.AfterFunc(s.hold, confirm)
	} else {
		confirm()
	}
}

func (s *recordSink) stats() (n, bad, disorder, maxPending int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.bad, s.disorder, s.maxPending
}

// startBroker runs an mqttfront server with anonymous clients on
// 127.0.0.1:0 until the test ends; edit adjusts the configuration.
func startBroker(t *testing.T, sink mqttfront.Sink, edit func(*mqttfront.Config)) (*mqttfront.Server, string) {
	t.Helper()
	cfg := mqttfront.DefaultConfig()
	cfg.Auth.AllowAnonymous = true
	cfg.Listeners.TCP = mqttfront.ListenerConfig{Enabled: true, Address: "127.0.0.1:0"}
	cfg.SysInterval = 0
	if edit != nil {
		edit(&cfg)
	}
	srv, err := mqttfront.New(cfg, sink, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, srv, srv.Ready())
	return srv, srv.Addr("tcp").String()
}

// runPubWatching runs RunPub in the background and, while it runs, polls
// the broker's clients for cfg.Conns online ones; it returns the summary
// and the protocol versions the broker saw them connect with.
func runPubWatching(t *testing.T, srv *mqttfront.Server, cfg PubConfig) (*Summary, map[int]int) {
	t.Helper()
	type result struct {
		sum *Summary
		err error
	}
	resc := make(chan result, 1)
	go func() {
		sum, err := RunPub(context.Background(), cfg, nil, 0, nil)
		resc <- result{sum, err}
	}()
	versions := map[int]int{} // protocol version -> online clients, once all were online
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-resc:
			if r.err != nil {
				t.Fatalf("RunPub: %v", r.err)
			}
			return r.sum, versions
		case <-tick.C:
			if len(versions) > 0 {
				continue
			}
			online := map[int]int{}
			n := 0
			for _, c := range srv.Clients() {
				if c.Online {
					online[c.ProtocolVersion]++
					n++
				}
			}
			if n == cfg.Conns {
				versions = online
			}
		}
	}
}

// TestRunPubVersions publishes QoS 1 for a second with each MQTT version
// against an in-process broker: everything sent is acked and reaches the
// broker in order, and the broker sees the version asked for.
func TestRunPubVersions(t *testing.T) {
	for _, tc := range []struct {
		version, wire int // --mqtt-version, the CONNECT's protocol level
	}{{3, 4}, {5, 5}} {
		t.Run(fmt.Sprintf("v%d", tc.version), func(t *testing.T) {
			sink := &recordSink{}
			srv, addr := startBroker(t, sink, nil)
			sum, versions := runPubWatching(t, srv, PubConfig{
				Addr: addr, MQTTVersion: tc.version, Conns: 3, QoS: 1, Size: 64, Inflight: 8,
				Topic: "bench/d%d", ClientPrefix: "v", Duration: time.Second,
			})
			c := sum.Client
			t.Logf("v%d: sent %d acked %d (%.0f/s), puback p99 %.2fms, errors %v", tc.version, c.Sent, c.Acked, c.AckedPerSec, c.Puback.P99, c.Errors)
			if got := sum.Config.(PubConfig).MQTTVersion; got != tc.version {
				t.Errorf("summary config MQTTVersion = %d, want %d", got, tc.version)
			}
			if c.Connected != 3 {
				t.Errorf("connected %d of 3", c.Connected)
			}
			if c.Sent == 0 || c.Acked != c.Sent || c.AckedTotal != c.SentTotal {
				t.Errorf("sent %d acked %d (total sent %d acked %d); want sent > 0 and all acked", c.Sent, c.Acked, c.SentTotal, c.AckedTotal)
			}
			if len(c.Errors) != 0 {
				t.Errorf("errors %v, want none", c.Errors)
			}
			if versions[tc.wire] != 3 || len(versions) != 1 {
				t.Errorf("broker saw online clients by protocol version %v, want {%d: 3}", versions, tc.wire)
			}
			n, bad, disorder, _ := sink.stats()
			if uint64(n) != c.SentTotal || bad != 0 || disorder != 0 {
				t.Errorf("broker got %d messages (%d bad payloads, %d out of order), want %d, 0, 0", n, bad, disorder, c.SentTotal)
			}
		})
	}
}

// TestRunPubV5ReceiveMaximum: with --inflight 32 and a server Receive
// Maximum of 4 (and a Sink slow enough to fill the window), a v5 publisher
// keeps at most 4 unacked and the window is used to the full; a fifth would
// make the broker disconnect it (0x93).
func TestRunPubV5ReceiveMaximum(t *testing.T) {
	sink := &recordSink{hold: time.Millisecond}
	srv, addr := startBroker(t, sink, func(c *mqttfront.Config) { c.ReceiveMaximum = 4 })
	sum, err := RunPub(context.Background(), PubConfig{
		Addr: addr, MQTTVersion: 5, Conns: 1, QoS: 1, Inflight: 32,
		Topic: "bench/d%d", ClientPrefix: "rm", Duration: 500 * time.Millisecond,
	}, nil, 0, nil)
	if err != nil {
		t.Fatalf("RunPub: %v", err)
	}
	c := sum.Client
	n, _, disorder, maxPending := sink.stats()
	t.Logf("sent %d acked %d, broker got %d, at most %d awaiting the sink, errors %v", c.SentTotal, c.AckedTotal, n, maxPending, c.Errors)
	if c.Sent == 0 || c.AckedTotal != c.SentTotal || len(c.Errors) != 0 {
		t.Errorf("sent %d acked %d errors %v; want sent > 0, all acked, no errors", c.SentTotal, c.AckedTotal, c.Errors)
	}
	if d := srv.Stats().Disconnects["receive_maximum_exceeded"]; d != 0 {
		t.Errorf("broker disconnected %d clients for exceeding its Receive Maximum", d)
	}
	if maxPending != 4 {
		t.Errorf("at most %d messages awaited the sink at once, want 4 (min(inflight 32, receive maximum 4))", maxPending)
	}
	if disorder != 0 {
		t.Errorf("%d messages out of order", disorder)
	}
}

// TestRunPubV5PubackReason: a publish the broker's ACL denies gets PUBACK
// 0x87 (Not authorized); it counts as the error "puback_0x87", not as acked.
func TestRunPubV5PubackReason(t *testing.T) {
	sink := &recordSink{}
	_, addr := startBroker(t, sink, func(c *mqttfront.Config) {
		c.Auth.ACL = auth.ACLConfig{NoMatch: auth.NoMatchAllow, Rules: []auth.ACLRule{
			{Permission: auth.PermissionDeny, Action: auth.ActionNamePublish, Topics: []string{"denied/#"}},
		}}
	})
	sum, err := RunPub(context.Background(), PubConfig{
		Addr: addr, MQTTVersion: 5, Conns: 2, QoS: 1, Inflight: 4,
		Topic: "denied/d%d", ClientPrefix: "acl", Duration: 300 * time.Millisecond,
	}, nil, 0, nil)
	if err != nil {
		t.Fatalf("RunPub: %v", err)
	}
	c := sum.Client
	t.Logf("sent %d acked %d errors %v", c.SentTotal, c.AckedTotal, c.Errors)
	if c.SentTotal == 0 || c.AckedTotal != 0 || c.Acked != 0 {
		t.Errorf("sent %d acked %d; want sent > 0 and none acked", c.SentTotal, c.AckedTotal)
	}
	if got := c.Errors["puback_0x87"]; got != c.SentTotal || len(c.Errors) != 1 {
		t.Errorf("errors %v, want only puback_0x87: %d", c.Errors, c.SentTotal)
	}
	if n, _, _, _ := sink.stats(); n != 0 {
		t.Errorf("the sink got %d denied messages", n)
	}
}

// TestRunPubConnectRefused: both versions name a refused connection alike.
func TestRunPubConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, v := range []int{3, 5} {
		sum, err := RunPub(context.Background(), PubConfig{Addr: addr, MQTTVersion: v, Conns: 2, Duration: time.Second}, nil, 0, nil)
		if err == nil || sum != nil {
			t.Errorf("v%d: RunPub against a closed port: summary %v, error %v; want an error", v, sum, err)
			continue
		}
		if want := "connect: connection_refused"; !strings.Contains(err.Error(), want+":2") {
			t.Errorf("v%d: error %q, want it to count %q twice", v, err, want)
		}
	}
	if _, err := RunPub(context.Background(), PubConfig{Addr: addr, MQTTVersion: 4}, nil, 0, nil); err == nil {
		t.Errorf("MQTTVersion 4 accepted")
	}
}
