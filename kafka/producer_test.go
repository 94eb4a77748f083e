package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/IBM/sarama/mocks"
	"go.uber.org/zap/zaptest"
)

// result collects Done calls.
type result struct {
	mu   sync.Mutex
	errs map[int]error
	n    map[int]int
}

func newResult() *result { return &result{errs: map[int]error{}, n: map[int]int{}} }

func (r *result) done(i int) func(error) {
	return func(err error) {
		r.mu.Lock()
		r.errs[i] = err
		r.n[i]++
		r.mu.Unlock()
	}
}

func (r *result) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs)
}

func (r *result) get(i int) (error, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errs[i], r.n[i]
}

func testProducer(t *testing.T, mutate func(*Config), open asyncFactory) *Producer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Producer.Producers = 1 // the mock is one sarama producer
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := NewProducer(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	p.w.open = open
	return p
}

func mockFactory(mp *mocks.AsyncProducer) asyncFactory {
	return func(*sarama.Config) (sarama.AsyncProducer, func() error, error) {
		return mp, func() error { return nil }, nil
	}
}

func runProducer(t *testing.T, p *Producer) (cancel func()) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	return func() {
		stop()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run() = %v; want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return within 10s of cancel")
		}
	}
}

func TestProducerDoneOnSuccessAndFailure(t *testing.T) {
	mp := mocks.NewAsyncProducer(t, mockConfig())
	mp.ExpectInputAndSucceed()
	mp.ExpectInputAndFail(sarama.ErrMessageSizeTooLarge)
	mp.ExpectInputAndFail(sarama.ErrTopicAuthorizationFailed)
	mp.ExpectInputAndSucceed()
	p := testProducer(t, nil, mockFactory(mp))
	var acks atomic.Int32
	p.SetAckHook(func(time.Duration, error) { acks.Add(1) })
	stop := runProducer(t, p)
	res := newResult()
	ctx := context.Background()
	for i := range 4 {
		if err := p.Produce(ctx, &Record{Topic: "t", Key: []byte("k"), Value: []byte{byte(i)}, Done: res.done(i)}); err != nil {
			t.Fatalf("Produce(%d) = %v", i, err)
		}
	}
	waitFor(t, 5*time.Second, "4 completions", func() bool { return res.count() == 4 })
	stop()

	want := []string{"", KindTooLarge, KindNotAuthorized, ""}
	for i, w := range want {
		err, n := res.get(i)
		if n != 1 {
			t.Errorf("record %d: Done called %d times; want 1", i, n)
		}
		if got := ErrorKind(err); got != w {
			t.Errorf("record %d: Done(%v) kind %q; want %q", i, err, got, w)
		}
	}
	st := p.Stats()
	if st.Produced != 2 || st.Failed[KindTooLarge] != 1 || st.Failed[KindNotAuthorized] != 1 || st.InFlight != 0 {
		t.Errorf("Stats() = %+v; want 2 produced, 1 too_large, 1 not_authorized, 0 in flight", st)
	}
	if got := acks.Load(); got != 4 {
		t.Errorf("ack hook called %d times; want 4", got)
	}
	if err := p.Produce(ctx, &Record{Topic: "t"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Produce after shutdown = %v; want ErrClosed", err)
	}
}

func TestProducerMapsRecord(t *testing.T) {
	mp := mocks.NewAsyncProducer(t, mockConfig())
	checked := make(chan error, 1)
	mp.ExpectInputWithMessageCheckerFunctionAndSucceed(func(m *sarama.ProducerMessage) error {
		var err error
		k, _ := m.Key.Encode()
		v, _ := m.Value.Encode()
		switch {
		case m.Topic != "telemetry" || string(k) != "dev-1" || string(v) != "\x00\xff":
			err = fmt.Errorf("message %s/%q/%q", m.Topic, k, v)
		case len(m.Headers) != 1 || string(m.Headers[0].Key) != "mqtt_topic" || string(m.Headers[0].Value) != "a/b":
			err = fmt.Errorf("headers %v", m.Headers)
		}
		checked <- err
		return err
	})
	p := testProducer(t, nil, mockFactory(mp))
	stop := runProducer(t, p)
	defer stop()
	done := make(chan error, 1)
	err := p.Produce(context.Background(), &Record{
		Topic: "telemetry", Key: []byte("dev-1"), Value: []byte{0, 0xff},
		Headers: []Header{{Key: "mqtt_topic", Value: []byte("a/b")}},
		Done:    func(err error) { done <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-checked; err != nil {
		t.Fatalf("sarama message: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Done(%v); want nil", err)
	}
}

// The window holds buffer_records records; Produce blocks beyond it, and
// records accepted before the connection wait and are then delivered.
func TestProducerWindowAndLateConnect(t *testing.T) {
	mp := mocks.NewAsyncProducer(t, mockConfig())
	mp.ExpectInputAndSucceed().ExpectInputAndSucceed()
	var attempts atomic.Int32
	open := func(cfg *sarama.Config) (sarama.AsyncProducer, func() error, error) {
		if attempts.Add(1) < 3 {
			return nil, nil, sarama.ErrOutOfBrokers
		}
		return mp, func() error { return nil }, nil
	}
	p := testProducer(t, func(c *Config) { c.Producer.BufferRecords = 2 }, open)
	res := newResult()
	bg := context.Background()
	for i := range 2 {
		if err := p.Produce(bg, &Record{Topic: "t", Done: res.done(i)}); err != nil {
			t.Fatalf("Produce(%d) = %v", i, err)
		}
	}
	short, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	if err := p.Produce(short, &Record{Topic: "t"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Produce into a full window = %v; want context.DeadlineExceeded", err)
	}
	if p.Connected() {
		t.Fatal("Connected() before Run = true")
	}
	stop := runProducer(t, p)
	waitFor(t, 10*time.Second, "both records acked", func() bool { return res.count() == 2 })
	if !p.Connected() {
		t.Error("Connected() after delivery = false")
	}
	stop()
	if got := attempts.Load(); got != 3 {
		t.Errorf("connect attempts = %d; want 3", got)
	}
	for i := range 2 {
		if err, _ := res.get(i); err != nil {
			t.Errorf("record %d: Done(%v); want nil", i, err)
		}
	}
}

func TestProducerShutdownBeforeConnect(t *testing.T) {
	open := func(*sarama.Config) (sarama.AsyncProducer, func() error, error) {
		return nil, nil, sarama.ErrOutOfBrokers
	}
	p := testProducer(t, nil, open)
	res := newResult()
	if err := p.Produce(context.Background(), &Record{Topic: "t", Done: res.done(0)}); err != nil {
		t.Fatal(err)
	}
	stop := runProducer(t, p)
	stop()
	if err, n := res.get(0); !errors.Is(err, ErrClosed) || n != 1 {
		t.Errorf("Done(%v) x%d; want ErrClosed once", err, n)
	}
	if st := p.Stats(); st.InFlight != 0 || st.Queued != 0 {
		t.Errorf("Stats() = %+v; want empty window", st)
	}
}

// holdingProducer takes records and never answers until closed: a broker
// that hangs. On close it returns every held record as an error.
type holdingProducer struct {
	sarama.AsyncProducer
	in   chan *sarama.ProducerMessage
	succ chan *sarama.ProducerMessage
	errs chan *sarama.ProducerError
	wg   sync.WaitGroup
}

func newHoldingProducer() *holdingProducer {
	h := &holdingProducer{
		in:   make(chan *sarama.ProducerMessage),
		succ: make(chan *sarama.ProducerMessage),
		errs: make(chan *sarama.ProducerError),
	}
	h.wg.Go(func() {
		var held []*sarama.ProducerMessage
		for m := range h.in {
			held = append(held, m)
		}
		for _, m := range held {
			h.errs <- &sarama.ProducerError{Msg: m, Err: sarama.ErrOutOfBrokers}
		}
		close(h.errs)
		close(h.succ)
	})
	return h
}

func (h *holdingProducer) Input() chan<- *sarama.ProducerMessage     { return h.in }
func (h *holdingProducer) Successes() <-chan *sarama.ProducerMessage { return h.succ }
func (h *holdingProducer) Errors() <-chan *sarama.ProducerError      { return h.errs }
func (h *holdingProducer) AsyncClose()                               { close(h.in) }

func TestProducerDeliveryTimeout(t *testing.T) {
	hp := newHoldingProducer()
	open := func(*sarama.Config) (sarama.AsyncProducer, func() error, error) {
		return hp, func() error { return nil }, nil
	}
	p := testProducer(t, func(c *Config) {
		c.Producer.LingerMs = 0
		c.Producer.RequestTimeoutMs = 50
		c.Producer.DeliveryTimeoutMs = 100
		c.Producer.BufferRecords = 1
	}, open)
	stop := runProducer(t, p)
	res := newResult()
	start := time.Now()
	if err := p.Produce(context.Background(), &Record{Topic: "t", Done: res.done(0)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "delivery timeout", func() bool { return res.count() == 1 })
	if err, _ := res.get(0); !errors.Is(err, ErrDeliveryTimeout) {
		t.Fatalf("Done(%v); want ErrDeliveryTimeout", err)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("timed out after %v; want >= 100ms", el)
	}
	// The record still holds its slot while sarama has it: backpressure.
	short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := p.Produce(short, &Record{Topic: "t"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Produce while the timed-out record is still held = %v; want DeadlineExceeded", err)
	}
	stop()
	hp.wg.Wait()
	if _, n := res.get(0); n != 1 {
		t.Errorf("Done called %d times; want exactly 1", n)
	}
	if st := p.Stats(); st.Failed[KindTimeout] != 1 || st.InFlight != 0 {
		t.Errorf("Stats() = %+v; want 1 timeout, nothing in flight", st)
	}
}

func mockConfig() *sarama.Config {
	c := mocks.NewTestConfig()
	c.Producer.Return.Successes = true
	return c
}

func BenchmarkProducerMock(b *testing.B) {
	mp := mocks.NewAsyncProducer(b, mockConfig())
	for range b.N {
		mp.ExpectInputAndSucceed()
	}
	cfg := DefaultConfig()
	cfg.Producer.Producers = 1 // the mock is one sarama producer
	p, err := NewProducer(cfg, zaptest.NewLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	p.w.open = mockFactory(mp)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	var wg sync.WaitGroup
	wg.Add(b.N)
	done := func(error) { wg.Done() }
	val := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := p.Produce(ctx, &Record{Topic: "t", Key: []byte("k"), Value: val, Done: done}); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	cancel()
	<-errc
}
