package kafka

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"
)

// fakeSession records marks and commits; fakeClaim feeds messages.
type fakeSession struct {
	sarama.ConsumerGroupSession
	ctx     context.Context
	mu      sync.Mutex
	marks   []int64
	commits int
}

func (s *fakeSession) Context() context.Context { return s.ctx }
func (s *fakeSession) MarkOffset(_ string, _ int32, off int64, _ string) {
	s.mu.Lock()
	s.marks = append(s.marks, off)
	s.mu.Unlock()
}
func (s *fakeSession) Commit() { s.mu.Lock(); s.commits++; s.mu.Unlock() }
func (s *fakeSession) lastMark() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.marks) == 0 {
		return -1
	}
	return s.marks[len(s.marks)-1]
}

type fakeClaim struct {
	msgs chan *sarama.ConsumerMessage
}

func (c *fakeClaim) Topic() string                            { return "t" }
func (c *fakeClaim) Partition() int32                         { return 0 }
func (c *fakeClaim) InitialOffset() int64                     { return 0 }
func (c *fakeClaim) HighWaterMarkOffset() int64               { return 100 }
func (c *fakeClaim) Messages() <-chan *sarama.ConsumerMessage { return c.msgs }

// holdHandler keeps every done callback until the test releases it.
type holdHandler struct {
	mu    sync.Mutex
	dones map[int64]func(error)
}

func (h *holdHandler) Handle(_ context.Context, m *Message, done func(error)) {
	h.mu.Lock()
	h.dones[m.Offset] = done
	h.mu.Unlock()
}

func (h *holdHandler) release(off int64, err error) {
	h.mu.Lock()
	d := h.dones[off]
	delete(h.dones, off)
	h.mu.Unlock()
	d(err)
}

func (h *holdHandler) held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.dones)
}

func newClaimFixture(t *testing.T, mutate func(*Config)) (*groupHandler, *holdHandler, *fakeSession, *fakeClaim, context.CancelFunc) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Consumer.DrainTimeoutMs = 2000
	if mutate != nil {
		mutate(&cfg)
	}
	h := &holdHandler{dones: map[int64]func(error){}}
	c, err := NewConsumer(cfg, []string{"t"}, h, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &groupHandler{c: c}, h, &fakeSession{ctx: ctx}, &fakeClaim{msgs: make(chan *sarama.ConsumerMessage, 16)}, cancel
}

func runClaim(g *groupHandler, s *fakeSession, c *fakeClaim) chan error {
	out := make(chan error, 1)
	go func() { out <- g.ConsumeClaim(s, c) }()
	return out
}

func TestConsumeClaimMarksConfirmedPrefixAndDrains(t *testing.T) {
	g, h, sess, claim, cancel := newClaimFixture(t, nil)
	defer cancel()
	for off := range int64(4) {
		claim.msgs <- &sarama.ConsumerMessage{Topic: "t", Offset: off}
	}
	res := runClaim(g, sess, claim)
	waitFor(t, 5*time.Second, "4 records at the handler", func() bool { return h.held() == 4 })
	h.release(2, nil)
	h.release(0, nil)
	waitFor(t, 5*time.Second, "mark 1", func() bool { return sess.lastMark() == 1 })
	if got := g.c.Lag(); got != 99 {
		t.Errorf("Lag() = %d; want 99 (hwm 100 - commit point 1)", got)
	}
	// Revocation: the loop stops handing out and waits for 1 and 3.
	cancel()
	claim.msgs <- &sarama.ConsumerMessage{Topic: "t", Offset: 4}
	select {
	case <-res:
		t.Fatal("ConsumeClaim returned with records outstanding")
	case <-time.After(50 * time.Millisecond):
	}
	h.release(1, nil)
	h.release(3, nil)
	if err := <-res; err != nil {
		t.Fatalf("ConsumeClaim() = %v", err)
	}
	if got := sess.lastMark(); got != 4 {
		t.Errorf("final mark = %d; want 4", got)
	}
	if h.held() != 0 {
		t.Errorf("offset 4 was handed out after revocation")
	}
	if g.c.Lag() != 0 {
		t.Errorf("Lag() after the claim ended = %d; want 0", g.c.Lag())
	}
}

func TestConsumeClaimWindowAndDrainTimeout(t *testing.T) {
	g, h, sess, claim, cancel := newClaimFixture(t, func(c *Config) {
		c.Consumer.MaxPendingPerPartition = 2
		c.Consumer.DrainTimeoutMs = 100
	})
	for off := range int64(3) {
		claim.msgs <- &sarama.ConsumerMessage{Topic: "t", Offset: off}
	}
	res := runClaim(g, sess, claim)
	waitFor(t, 5*time.Second, "2 records at the handler", func() bool { return h.held() == 2 })
	time.Sleep(50 * time.Millisecond) // give a wrong implementation the chance to hand out #3
	if got := h.held(); got != 2 {
		t.Fatalf("%d records at the handler; want the window of 2", got)
	}
	h.release(1, nil) // out of order: the window stays full (0 outstanding)
	time.Sleep(50 * time.Millisecond)
	if got := h.held(); got != 1 {
		t.Fatalf("%d records at the handler after releasing 1; want 1 (window counts from the commit point)", got)
	}
	h.release(0, nil)
	waitFor(t, 5*time.Second, "record 2 handed out", func() bool { return h.held() == 1 && sess.lastMark() == 2 })
	cancel()
	start := time.Now()
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("returned after %v; want the 100ms drain timeout", el)
	}
	h.release(2, nil) // late completion after the claim ended: no mark
	if got := sess.lastMark(); got != 2 {
		t.Errorf("last mark = %d; want 2 (record 2 never confirmed in time)", got)
	}
}

func TestConsumeClaimRetriesFailedRecord(t *testing.T) {
	g, h, sess, claim, cancel := newClaimFixture(t, nil)
	defer cancel()
	claim.msgs <- &sarama.ConsumerMessage{Topic: "t", Offset: 7}
	res := runClaim(g, sess, claim)
	waitFor(t, 5*time.Second, "record at the handler", func() bool { return h.held() == 1 })
	h.release(7, context.DeadlineExceeded)
	if h.held() != 0 {
		t.Fatal("record re-handed without back-off")
	}
	waitFor(t, 5*time.Second, "record re-handed", func() bool { return h.held() == 1 })
	h.release(7, nil)
	waitFor(t, 5*time.Second, "mark 8", func() bool { return sess.lastMark() == 8 })
	close(claim.msgs)
	if err := <-res; err != nil {
		t.Fatal(err)
	}
}

func TestHandlerRetryBackoff(t *testing.T) {
	for _, tt := range []struct {
		attempt int
		want    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {5, 16 * time.Second}, {6, 30 * time.Second}, {40, 30 * time.Second}} {
		if got := handlerRetryBackoff(tt.attempt); got != tt.want {
			t.Errorf("handlerRetryBackoff(%d) = %v; want %v", tt.attempt, got, tt.want)
		}
	}
}
