package kafka

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"
)

// runProber runs p until the test ends.
func runProber(t *testing.T, p *Prober) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Prober.Run did not return within 15 s of cancel")
		}
	})
}

func newTestProber(t *testing.T, addr string, topics ...string) *Prober {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{addr}
	p, err := NewProber(cfg, func() []string { return topics }, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mockAPIVersions advertises the requests the prober sends (the mock's
// default lists only Produce and Fetch).
func mockAPIVersions(t *testing.T) sarama.MockResponse {
	return sarama.NewMockApiVersionsResponse(t).SetApiKeys([]sarama.ApiVersionsResponseKey{
		{ApiKey: 3, MinVersion: 0, MaxVersion: 11}, // Metadata
		{ApiKey: 17, MinVersion: 0, MaxVersion: 1}, // SaslHandshake
		{ApiKey: 18, MinVersion: 0, MaxVersion: 3}, // ApiVersions
		{ApiKey: 36, MinVersion: 0, MaxVersion: 2}, // SaslAuthenticate
	})
}

// mockCluster is a sarama MockBroker answering ApiVersions and Metadata.
func mockCluster(t *testing.T, mb *sarama.MockBroker, meta *sarama.MockMetadataResponse) {
	mb.SetHandlerByMap(map[string]sarama.MockResponse{
		"ApiVersionsRequest": mockAPIVersions(t),
		"MetadataRequest":    meta.SetBroker(mb.Addr(), mb.BrokerID()),
	})
}

func waitHealth(t *testing.T, p *Prober, timeout time.Duration, what string, cond func(Health) bool) Health {
	t.Helper()
	var h Health
	waitFor(t, timeout, what, func() bool { h = p.Health(); return cond(h) })
	return h
}

// TestProberUpAndNoLeader: a broker whose metadata names a leader for every
// partition of the probed topics is up; a partition with leader -1 makes
// the verdict degraded (no_leader) with the partition named, and a
// leader coming back makes it up again. A topic the cluster does not know
// is listed, not a fault. A single-node Kafka cannot be made to answer
// "no leader" for an existing topic (its only broker leads everything),
// so this runs against sarama's mock broker, which speaks the real
// protocol.
func TestProberUpAndNoLeader(t *testing.T) {
	mb := sarama.NewMockBroker(t, 1)
	defer mb.Close()
	meta := sarama.NewMockMetadataResponse(t).SetLeader("up", 0, 1).SetLeader("up", 1, 1)
	mockCluster(t, mb, meta)
	p := newTestProber(t, mb.Addr(), "up", "absent")
	if h := p.Health(); h.State != KafkaUnknown || h.Reason != ReasonStarting || h.Up() {
		t.Fatalf("Health before Run = %+v; want unknown/starting", h)
	}
	runProber(t, p)
	h := waitHealth(t, p, 5*time.Second, "up", func(h Health) bool { return h.State == KafkaUp })
	if h.Reason != ReasonOK || h.Brokers != 1 || h.Broker != mb.Addr() || h.Err != "" {
		t.Errorf("Health = %+v; want reason ok, 1 broker %s, no error", h, mb.Addr())
	}
	if len(h.MissingTopics) != 1 || h.MissingTopics[0] != "absent" {
		t.Errorf("MissingTopics = %q; want [absent]", h.MissingTopics)
	}

	// Partition 1 loses its leader.
	mockCluster(t, mb, sarama.NewMockMetadataResponse(t).SetLeader("up", 0, 1).SetLeader("up", 1, -1))
	h = waitHealth(t, p, 5*time.Second, "degraded", func(h Health) bool { return h.State == KafkaDegraded })
	if h.Reason != ReasonNoLeader || h.LeaderlessCount != 1 || len(h.Leaderless) != 1 || h.Leaderless[0] != "up/1" || h.Up() {
		t.Errorf("Health = %+v; want no_leader, 1 leaderless partition up/1", h)
	}
	if !strings.Contains(h.Err, "1 of 2 partitions without a leader") {
		t.Errorf("Err = %q; want it to say 1 of 2 partitions without a leader", h.Err)
	}
	mockCluster(t, mb, meta)
	waitHealth(t, p, 5*time.Second, "up again", func(h Health) bool { return h.State == KafkaUp && h.LeaderlessCount == 0 })
}

// TestProberJudge covers the topic-level answers judge classifies.
func TestProberJudge(t *testing.T) {
	resp := func(tms ...*sarama.TopicMetadata) *sarama.MetadataResponse {
		return &sarama.MetadataResponse{Topics: tms}
	}
	part := func(id, leader int32, err sarama.KError) *sarama.PartitionMetadata {
		return &sarama.PartitionMetadata{ID: id, Leader: leader, Err: err}
	}
	for _, tc := range []struct {
		name   string
		resp   *sarama.MetadataResponse
		topics []string
		state  KafkaState
		reason string
	}{
		{"all led", resp(&sarama.TopicMetadata{Name: "a", Partitions: []*sarama.PartitionMetadata{part(0, 1, 0)}}), []string{"a"}, KafkaUp, ReasonOK},
		{"leader -1", resp(&sarama.TopicMetadata{Name: "a", Partitions: []*sarama.PartitionMetadata{part(0, -1, 0)}}), []string{"a"}, KafkaDegraded, ReasonNoLeader},
		{"LEADER_NOT_AVAILABLE on a partition", resp(&sarama.TopicMetadata{Name: "a", Partitions: []*sarama.PartitionMetadata{part(0, 1, sarama.ErrLeaderNotAvailable)}}), []string{"a"}, KafkaDegraded, ReasonNoLeader},
		{"LEADER_NOT_AVAILABLE on the topic, no partitions", resp(&sarama.TopicMetadata{Name: "a", Err: sarama.ErrLeaderNotAvailable}), []string{"a"}, KafkaDegraded, ReasonNoLeader},
		{"replica offline, leader there", resp(&sarama.TopicMetadata{Name: "a", Partitions: []*sarama.PartitionMetadata{part(0, 1, sarama.ErrReplicaNotAvailable)}}), []string{"a"}, KafkaUp, ReasonOK},
		{"unknown topic", resp(&sarama.TopicMetadata{Name: "a", Err: sarama.ErrUnknownTopicOrPartition}), []string{"a"}, KafkaUp, ReasonOK},
		{"topic not authorized", resp(&sarama.TopicMetadata{Name: "a", Err: sarama.ErrTopicAuthorizationFailed}), []string{"a"}, KafkaDegraded, KindNotAuthorized},
		{"a topic not asked for", resp(&sarama.TopicMetadata{Name: "other", Partitions: []*sarama.PartitionMetadata{part(0, -1, 0)}}), []string{"a"}, KafkaUp, ReasonOK},
		{"no topics", resp(), nil, KafkaUp, ReasonOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := judge(tc.resp, tc.topics)
			if h.State != tc.state || h.Reason != tc.reason {
				t.Errorf("judge = %s/%s (%s); want %s/%s", h.State, h.Reason, h.Err, tc.state, tc.reason)
			}
		})
	}
}

// TestProberStopped: a broker that goes away (connection refused) makes the
// verdict down/unreachable within 5 s, and one listening again on the same
// address makes it up within 5 s.
func TestProberStopped(t *testing.T) {
	mb := sarama.NewMockBroker(t, 1)
	addr := mb.Addr()
	meta := sarama.NewMockMetadataResponse(t).SetLeader("up", 0, 1)
	mockCluster(t, mb, meta)
	p := newTestProber(t, addr, "up")
	runProber(t, p)
	waitHealth(t, p, 5*time.Second, "up", func(h Health) bool { return h.Up() })

	mb.Close()
	stopped := time.Now()
	h := waitHealth(t, p, 5*time.Second, "down after the broker stopped", func(h Health) bool { return h.State == KafkaDown })
	t.Logf("down after %v: %s", time.Since(stopped).Round(time.Millisecond), h.Err)
	if h.Reason != KindUnreachable || h.Err == "" || h.Up() {
		t.Errorf("Health = %+v; want down/unreachable with the error", h)
	}

	mb2 := sarama.NewMockBrokerAddr(t, 1, addr)
	defer mb2.Close()
	mockCluster(t, mb2, sarama.NewMockMetadataResponse(t).SetLeader("up", 0, 1))
	back := time.Now()
	waitHealth(t, p, 5*time.Second, "up after the broker came back", func(h Health) bool { return h.Up() })
	t.Logf("up after %v", time.Since(back).Round(time.Millisecond))
}

// TestProberHung: a "broker" that accepts connections and never answers
// (what a SIGSTOPped JVM looks like: the kernel still completes the TCP
// handshake) is down/timeout within 5 s, although no request fails on
// its own before its 2 s timeout.
func TestProberHung(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	p := newTestProber(t, ln.Addr().String(), "up")
	began := time.Now()
	runProber(t, p)
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	h := waitHealth(t, p, 5*time.Second, "down/timeout", func(h Health) bool { return h.State == KafkaDown })
	t.Logf("down after %v: %s", time.Since(began).Round(time.Millisecond), h.Err)
	if h.Reason != KindTimeout {
		t.Errorf("Health = %+v; want reason timeout", h)
	}
}

// TestProberWrongPassword: SASL/PLAIN refused by the broker is down with
// reason not_authorized (a wrong password shows as that, not as an
// outage of unknown cause).
func TestProberWrongPassword(t *testing.T) {
	mb := sarama.NewMockBroker(t, 1)
	defer mb.Close()
	mb.SetHandlerByMap(map[string]sarama.MockResponse{
		"ApiVersionsRequest":      mockAPIVersions(t),
		"SaslHandshakeRequest":    sarama.NewMockSaslHandshakeResponse(t).SetEnabledMechanisms([]string{sarama.SASLTypePlaintext}),
		"SaslAuthenticateRequest": sarama.NewMockSaslAuthenticateResponse(t).SetError(sarama.ErrSASLAuthenticationFailed),
		"MetadataRequest":         sarama.NewMockMetadataResponse(t).SetBroker(mb.Addr(), 1).SetLeader("up", 0, 1),
	})
	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{mb.Addr()}
	cfg.SASL = SASLConfig{Mechanism: SASLPlain, Username: "bridge", Password: "wrong"}
	p, err := NewProber(cfg, func() []string { return []string{"up"} }, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	runProber(t, p)
	h := waitHealth(t, p, 5*time.Second, "down", func(h Health) bool { return h.State == KafkaDown })
	// A refused password is its own kind since issue 15 (it used to be
	// not_authorized, the kind of a missing ACL).
	if h.Reason != KindAuthentication {
		t.Errorf("Health = %+v; want reason authentication", h)
	}
}
