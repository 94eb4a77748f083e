package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// gatedFetch is a fetch whose rounds block until released; each returns
// the number of callers that had arrived when the round started.
type gatedFetch struct {
	arrived atomic.Int64
	started chan struct{} // one value per round that began
	release chan struct{} // one value lets one round finish
}

func newGatedFetch() *gatedFetch {
	return &gatedFetch{started: make(chan struct{}, 16), release: make(chan struct{}, 16)}
}

func (g *gatedFetch) fetch() ([]int64, error) {
	seen := g.arrived.Load()
	g.started <- struct{}{}
	<-g.release
	return []int64{seen}, nil
}

// waitJoined polls until n callers wait for the next round.
func waitJoined(t *testing.T, b *barrier, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		joined := 0
		if b.next != nil {
			joined = b.next.joined
		}
		b.mu.Unlock()
		if joined == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers joined the next round; want %d", joined, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitRound(t *testing.T, g *gatedFetch) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(5 * time.Second):
		t.Fatal("no round started")
	}
}

// TestBarrierRoundStartsAfterCaller: callers that arrive while a round
// runs share one next round, and that round began after each of them
// arrived (it saw every one of them).
func TestBarrierRoundStartsAfterCaller(t *testing.T) {
	var b barrier
	g := newGatedFetch()
	first := make(chan []int64, 1)
	g.arrived.Add(1)
	go func() {
		hw, _ := b.highWater(context.Background(), g.fetch)
		first <- hw
	}()
	waitRound(t, g) // round 1 runs, blocked

	const n = 5
	var wg sync.WaitGroup
	got := make([][]int64, n)
	for i := range n {
		g.arrived.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			hw, err := b.highWater(context.Background(), g.fetch)
			if err != nil {
				t.Error(err)
			}
			got[i] = hw
		}()
	}
	waitJoined(t, &b, n)
	g.release <- struct{}{} // round 1 ends
	if hw := <-first; hw[0] != 1 {
		t.Fatalf("round 1 saw %d callers; want 1", hw[0])
	}
	waitRound(t, g)
	g.release <- struct{}{}
	wg.Wait()
	for i, hw := range got {
		if len(hw) != 1 || hw[0] != 1+n {
			t.Errorf("caller %d got a round that started before it arrived: %v", i, hw)
		}
	}
	if r := b.rounds.Load(); r != 2 {
		t.Errorf("%d rounds for 1+%d callers; want 2", r, n)
	}
}

// TestBarrierCoalesces: many callers arriving during one round cost one
// more round, not one each.
func TestBarrierCoalesces(t *testing.T) {
	var b barrier
	g := newGatedFetch()
	go func() { _, _ = b.highWater(context.Background(), g.fetch) }()
	waitRound(t, g)
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = b.highWater(context.Background(), g.fetch)
		}()
	}
	waitJoined(t, &b, n)
	g.release <- struct{}{}
	waitRound(t, g)
	g.release <- struct{}{}
	wg.Wait()
	if r := b.rounds.Load(); r != 2 {
		t.Fatalf("%d rounds for 1+%d callers; want 2", r, n)
	}
}

// TestBarrierCancelledCallerDoesNotStrand: the only caller of the next
// round gives up while the running round is still fetching; the round
// still runs, and a later caller gets an answer (no caller waits for a
// round nobody runs).
func TestBarrierCancelledCallerDoesNotStrand(t *testing.T) {
	var b barrier
	g := newGatedFetch()
	go func() { _, _ = b.highWater(context.Background(), g.fetch) }()
	waitRound(t, g)

	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := b.highWater(ctx, g.fetch)
		gaveUp <- err
	}()
	waitJoined(t, &b, 1)
	cancel()
	g.release <- struct{}{} // round 1 ends; the cancelled caller runs round 2
	waitRound(t, g)
	g.release <- struct{}{}
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v; want context.Canceled", err)
	}

	later := make(chan error, 1)
	go func() {
		_, err := b.highWater(context.Background(), g.fetch)
		later <- err
	}()
	waitRound(t, g)
	g.release <- struct{}{}
	select {
	case err := <-later:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller after a cancelled one got no answer: the barrier is stranded")
	}
}

// TestClusterReadBarrier: Synced at r2 returns only once r2 applied the
// sessions records in Kafka when it was called. r2's table commits are
// held (a bbolt write transaction on its cache) while a device connects
// and subscribes at r1: r2's Synced must wait; once released, it
// returns and r2 routes the device's filter to r1 at once. This is what
// keeps a downlink command consumed at r2 just after the device's SUBACK
// at r1 from being committed with no route (bridge/downlink.go).
func TestClusterReadBarrier(t *testing.T) {
	rs := startReplicas(t, 2, nil, nil)
	r1, r2 := rs[0], rs[1]
	hold, err := r2.node.claims.table.cache.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			_ = hold.Rollback()
		}
	}
	defer release()

	sub := connectClient(t, r1.addr, clientName("dev"), "", true)
	if code := sub.subscribe(t, "cmd/barrier", 1); code != 1 {
		t.Fatalf("SUBACK = %#x; want 1", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err = r2.router.Synced(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Synced at r2 with its table held: %v; want to wait (context.DeadlineExceeded)", err)
	}
	release()
	ctx, cancel = context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	if err := r2.router.Synced(ctx); err != nil {
		t.Fatalf("Synced at r2 after the release: %v", err)
	}
	r2.node.claims.routes.mu.RLock()
	owner := r2.node.claims.routes.owners[sub.ClientID()]
	r2.node.claims.routes.mu.RUnlock()
	subs := r2.node.claims.routes.index.ClientSubs(sub.ClientID())
	if owner != "r1" || !slices.ContainsFunc(subs, func(s topics.Sub) bool { return s.Filter == "cmd/barrier" }) {
		t.Fatalf("after Synced, r2 routes %s to %q with %v; want r1 with cmd/barrier", sub.ClientID(), owner, subs)
	}
}
