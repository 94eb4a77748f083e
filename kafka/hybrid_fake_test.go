package kafka

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"
)

// Fake Kafka modes.
const (
	kafkaUp   = "up"   // acks every record, in order
	kafkaDown = "down" // fails every record with ErrOutOfBrokers (retriable)
	kafkaHang = "hang" // holds every record without answering, like a black-holed broker
)

// fakeKafka is a sarama.AsyncProducer backed by one goroutine, so records
// are answered in Input order (per-partition FIFO, as sarama with
// max_in_flight 1 and idempotence). Its mode can change at any time; held
// records are answered per the new mode. Records on topic "refused" fail
// with MESSAGE_TOO_LARGE (a permanent error). With pace set it answers one
// record per pace (a healthy but overloaded broker); records on topic
// "stuck" are held while stuck is set (one partition that does not answer
// while the others do).
type fakeKafka struct {
	sarama.AsyncProducer
	in   chan *sarama.ProducerMessage
	succ chan *sarama.ProducerMessage
	errs chan *sarama.ProducerError
	ctl  chan struct{}
	wg   sync.WaitGroup

	mu           sync.Mutex
	mode         string
	clientClosed bool
	log          []string // values acked, in order
	acked        map[string]bool
	part         map[string]int32 // values acked: the partition sarama was given (more than one producer)
	opens        atomic.Int32
	pace         time.Duration // up: the time to answer one record
	stuck        bool          // up: hold records on topic "stuck"
}

func newFakeKafka(mode string) *fakeKafka {
	return &fakeKafka{mode: mode, acked: map[string]bool{}, part: map[string]int32{}}
}

// factory opens a fresh fake producer each time (one per Run).
func (f *fakeKafka) factory() asyncFactory {
	return func(*sarama.Config) (sarama.AsyncProducer, func() error, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.mode == kafkaDown {
			return nil, nil, sarama.ErrOutOfBrokers
		}
		f.opens.Add(1)
		f.in = make(chan *sarama.ProducerMessage)
		f.succ = make(chan *sarama.ProducerMessage)
		f.errs = make(chan *sarama.ProducerError)
		f.ctl = make(chan struct{}, 1)
		f.clientClosed = false
		in, succ, errs, ctl := f.in, f.succ, f.errs, f.ctl
		f.wg.Go(func() { f.loop(in, succ, errs, ctl) })
		return f, func() error {
			f.mu.Lock()
			f.clientClosed = true
			f.mu.Unlock()
			f.kick()
			return nil
		}, nil
	}
}

func (f *fakeKafka) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mode != kafkaUp {
		return sarama.ErrOutOfBrokers
	}
	return nil
}

func (f *fakeKafka) setMode(m string) {
	f.mu.Lock()
	f.mode = m
	f.mu.Unlock()
	f.kick()
}

// setPace makes the fake answer one record per d (0: at once).
func (f *fakeKafka) setPace(d time.Duration) {
	f.mu.Lock()
	f.pace = d
	f.mu.Unlock()
}

// setStuck holds records on topic "stuck" (or releases them).
func (f *fakeKafka) setStuck(on bool) {
	f.mu.Lock()
	f.stuck = on
	f.mu.Unlock()
	f.kick()
}

func (f *fakeKafka) kick() {
	f.mu.Lock()
	ctl := f.ctl
	f.mu.Unlock()
	if ctl != nil {
		select {
		case ctl <- struct{}{}:
		default:
		}
	}
}

func (f *fakeKafka) loop(in chan *sarama.ProducerMessage, succ chan *sarama.ProducerMessage, errs chan *sarama.ProducerError, ctl chan struct{}) {
	var held []*sarama.ProducerMessage
	inCh := in
	for inCh != nil || len(held) > 0 {
		select {
		case m, ok := <-inCh:
			if !ok {
				inCh = nil
			} else {
				held = append(held, m)
			}
		case <-ctl:
		}
		f.mu.Lock()
		mode, closed := f.mode, f.clientClosed
		f.mu.Unlock()
		if mode == kafkaHang && !closed {
			continue
		}
		f.mu.Lock()
		pace, stuck := f.pace, f.stuck && mode == kafkaUp && !closed
		f.mu.Unlock()
		kept := held[:0]
		for _, m := range held {
			v, _ := m.Value.Encode()
			if stuck && m.Topic == "stuck" {
				kept = append(kept, m)
				continue
			}
			if pace > 0 && mode == kafkaUp && !closed {
				time.Sleep(pace) // the broker's service time per record
			}
			switch {
			case mode != kafkaUp || closed:
				errs <- &sarama.ProducerError{Msg: m, Err: sarama.ErrOutOfBrokers}
			case m.Topic == "refused":
				errs <- &sarama.ProducerError{Msg: m, Err: sarama.ErrMessageSizeTooLarge}
			default:
				f.mu.Lock()
				f.log = append(f.log, string(v))
				f.acked[string(v)] = true
				f.part[string(v)] = m.Partition
				f.mu.Unlock()
				succ <- m
			}
		}
		held = kept
	}
	close(succ)
	close(errs)
}

// fakePartitions is how many partitions every topic of the fake has.
const fakePartitions = 6

// Partitions is the fake client's metadata (for the feeder of more than
// one producer): every topic has fakePartitions partitions, except
// "missing", which does not exist.
func (f *fakeKafka) Partitions(topic string) ([]int32, error) {
	if topic == "missing" {
		return nil, sarama.ErrUnknownTopicOrPartition
	}
	parts := make([]int32, fakePartitions)
	for i := range parts {
		parts[i] = int32(i)
	}
	return parts, nil
}

func (f *fakeKafka) Input() chan<- *sarama.ProducerMessage     { return f.in }
func (f *fakeKafka) Successes() <-chan *sarama.ProducerMessage { return f.succ }
func (f *fakeKafka) Errors() <-chan *sarama.ProducerError      { return f.errs }
func (f *fakeKafka) AsyncClose()                               { close(f.in) }

func (f *fakeKafka) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.acked[id]
}

func (f *fakeKafka) logCopy() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// hybridConfig is a small, fast hybrid configuration in dir.
func hybridConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.Spool.Enabled = true
	cfg.Spool.Dir = dir
	cfg.Spool.SegmentBytes = 16 << 10
	cfg.Spool.QuotaBytes = 4 << 20
	cfg.Producer.SpillAfterMs = 100
	cfg.Producer.BufferRecords = 64
	cfg.Producer.Producers = 1 // one fake; sharded_test.go runs several
	return cfg
}

func newHybrid(t *testing.T, cfg Config, f *fakeKafka) *Producer {
	t.Helper()
	p, err := NewProducer(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	p.w.open = f.factory()
	p.spill().check = f.check
	return p
}

// book tracks produced records "key:seq" and checks the promise: Done(nil)
// only after Kafka acked the record or a spool fsync that started after
// Produce; every acked record in Kafka; per-key order.
type book struct {
	t      *testing.T
	f      interface{ has(id string) bool } // the fake Kafka (or the fakes of several producers)
	fsyncs atomic.Uint64
	mu     sync.Mutex
	next   map[string]int
	acked  map[string]bool
	failed map[string]error
	early  []string // acked before Kafka or an fsync
	calls  map[string]int
	atMost map[string]bool // AckNone records: may be shed
	total  int
}

func newBook(t *testing.T, f interface{ has(id string) bool }, p *Producer) *book {
	b := &book{t: t, f: f, next: map[string]int{}, acked: map[string]bool{}, failed: map[string]error{}, calls: map[string]int{}, atMost: map[string]bool{}}
	p.SetFsyncHook(func(time.Duration) { b.fsyncs.Add(1) })
	return b
}

// record makes the next record of key; qos0 leaves Done nil.
func (b *book) record(key string, mode AckMode, qos0 bool) (*Record, string) {
	b.mu.Lock()
	seq := b.next[key]
	b.next[key]++
	b.total++
	b.mu.Unlock()
	id := fmt.Sprintf("%s:%d", key, seq)
	if mode == AckNone {
		b.mu.Lock()
		b.atMost[id] = true
		b.mu.Unlock()
	}
	r := &Record{Topic: "t", Key: []byte(key), Value: []byte(id), Mode: mode}
	if qos0 {
		return r, id
	}
	before := b.fsyncs.Load()
	r.Done = func(err error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.calls[id]++
		if err != nil {
			b.failed[id] = err
			return
		}
		if mode != AckNone && !b.f.has(id) && b.fsyncs.Load() <= before {
			b.early = append(b.early, id)
		}
		b.acked[id] = true
	}
	return r, id
}

func (b *book) counts() (acked, failed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.acked), len(b.failed)
}

// verify checks the fake's log against the book; it returns the duplicates.
func (b *book) verify(log []string) (dups int) {
	t := b.t
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.early) > 0 {
		t.Errorf("%d records acked before Kafka or an fsync covered them, e.g. %v", len(b.early), b.early[:min(5, len(b.early))])
	}
	for id, n := range b.calls {
		if n != 1 {
			t.Errorf("record %s: Done called %d times; want 1", id, n)
		}
	}
	seen := map[string]bool{}
	last := map[string]int{}
	for _, id := range log {
		if seen[id] {
			dups++
			continue
		}
		seen[id] = true
		key, s, _ := strings.Cut(id, ":")
		seq, _ := strconv.Atoi(s)
		if l, ok := last[key]; ok && seq <= l {
			t.Errorf("key %s: record %d reached Kafka after %d (order broken)", key, seq, l)
		}
		last[key] = seq
	}
	var lost []string
	for id := range b.acked {
		if !seen[id] && !b.atMost[id] {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d acked records are not in Kafka, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	return dups
}

func errsOf(m map[string]error) error {
	for id, err := range m {
		return fmt.Errorf("%s: %w", id, err)
	}
	return errors.New("none")
}
