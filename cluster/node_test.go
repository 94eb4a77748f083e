package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"
)

// testNode is one replica of a test cluster, run until the test ends.
type testNode struct {
	*Node
	done chan error
	stop context.CancelFunc

	mu   sync.Mutex
	lost map[int64]bool // epochs of this replica's claims that were superseded
}

func startNode(t testing.TB, cfg Config, bootstrap string) *testNode {
	t.Helper()
	n, err := New(cfg, []string{bootstrap}, saramaTestConfig(), t.TempDir(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{Node: n, done: make(chan error, 1), lost: map[int64]bool{}}
	n.Claims().OnSuperseded(func(_ string, lost, _ Owner) {
		tn.mu.Lock()
		tn.lost[lost.Epoch] = true
		tn.mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	tn.stop = cancel
	go func() { tn.done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-tn.done; err != nil {
			t.Errorf("node %s Run: %v", n.ID(), err)
		}
	})
	return tn
}

func (tn *testNode) waitReady(t testing.TB) {
	t.Helper()
	select {
	case <-tn.Ready():
	case err := <-tn.done:
		t.Fatalf("node %s stopped before ready: %v", tn.ID(), err)
	case <-time.After(defaultWait):
		t.Fatalf("node %s not ready after %v", tn.ID(), defaultWait)
	}
}

func (tn *testNode) wasLost(epoch int64) bool {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return tn.lost[epoch]
}

// TestClaimRace: three replicas claim one client id at the same moment,
// 100 times. Each round exactly one claim survives, and every replica
// agrees on its owner and epoch.
func TestClaimRace(t *testing.T) {
	_, bootstrap := testAdmin(t)
	base := testConfig(t, "")
	var nodes []*testNode
	for _, id := range []string{"r1", "r2", "r3"} {
		cfg := base
		cfg.ReplicaID = id
		nodes = append(nodes, startNode(t, cfg, bootstrap))
	}
	for _, n := range nodes {
		n.waitReady(t)
	}
	const rounds = 100
	type result struct {
		node  int
		owner Owner
		err   error
	}
	start := time.Now()
	for round := 0; round < rounds; round++ {
		results := make([]result, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
				defer cancel()
				o, err := n.Claims().Claim(ctx, "device-1", claimRecord{Version: 5})
				results[i] = result{node: i, owner: o, err: err}
			}()
		}
		wg.Wait()
		var top Owner
		for _, r := range results {
			if r.err != nil && !errors.Is(r.err, ErrSuperseded) {
				t.Fatalf("round %d: node %d Claim: %v", round, r.node, r.err)
			}
			if r.err == nil && r.owner.Epoch > top.Epoch {
				top = r.owner
			}
		}
		// Every replica converges on the same owner: the latest claim.
		waitFor(t, defaultWait, "all replicas to agree", func() bool {
			for _, n := range nodes {
				if o, _ := n.Claims().Owner("device-1"); o.Epoch < top.Epoch {
					return false
				}
			}
			return true
		})
		agreed, _ := nodes[0].Claims().Owner("device-1")
		for i, n := range nodes[1:] {
			if o, _ := n.Claims().Owner("device-1"); o != agreed {
				t.Fatalf("round %d: node %d says owner %+v, node 0 says %+v", round, i+1, o, agreed)
			}
		}
		// Exactly one claim of this round still stands; the others were
		// refused (ErrSuperseded) or told they lost.
		winners := 0
		for _, r := range results {
			if r.err != nil {
				continue
			}
			n := nodes[r.node]
			if r.owner.Epoch == agreed.Epoch {
				winners++
				if agreed.Replica != n.ID() {
					t.Fatalf("round %d: the surviving claim is node %d's but the owner is %s", round, r.node, agreed.Replica)
				}
				continue
			}
			waitFor(t, defaultWait, "the loser's callback", func() bool { return n.wasLost(r.owner.Epoch) })
		}
		if winners != 1 {
			t.Fatalf("round %d: %d surviving claims; want exactly 1 (results %+v, owner %+v)", round, winners, results, agreed)
		}
	}
	t.Logf("%d rounds of 3 concurrent claims in %v", rounds, time.Since(start))
}

// TestDuplicateReplicaIDRefused: a second live replica with the same id is
// refused; a restart after a crash (the predecessor silent) is not.
func TestDuplicateReplicaIDRefused(t *testing.T) {
	_, bootstrap := testAdmin(t)
	cfg := testConfig(t, "same")
	first := startNode(t, cfg, bootstrap)
	first.waitReady(t)

	n, err := New(cfg, []string{bootstrap}, saramaTestConfig(), t.TempDir(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	err = n.Run(ctx)
	if !errors.Is(err, ErrDuplicateReplica) {
		t.Fatalf("second replica with id \"same\": Run = %v; want ErrDuplicateReplica", err)
	}
	t.Logf("refused: %v", err)
	if first.Registry().Conflicts() != 0 {
		t.Fatalf("the running replica counted %d conflicts; the starting one never claimed to be alive", first.Registry().Conflicts())
	}
}

func TestRestartAfterCrashAccepted(t *testing.T) {
	_, bootstrap := testAdmin(t)
	cfg := testConfig(t, "crashed")
	// A predecessor that was killed: its last heartbeat says alive, and no
	// other follows.
	c := newTestCache(t)
	admin, _ := testAdmin(t)
	if _, err := ensureTopics(context.Background(), admin, c, 1, cfg.specs("crashed")); err != nil {
		t.Fatal(err)
	}
	client := testClient(t, bootstrap)
	prod, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	produce(t, prod, cfg.replicasTopic(), 0, "crashed", heartbeatRecord{Incarnation: 42, State: replicaAlive, Seq: 9}.encode())

	n := startNode(t, cfg, bootstrap)
	n.waitReady(t)
	live := n.Registry().Live()
	if len(live) != 1 || live[0].ID != "crashed" || live[0].Incarnation == 42 {
		t.Fatalf("Live() = %+v; want this replica's new incarnation only", live)
	}
}
