package faultkit

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

// LoadConfig describes an open-loop QoS 1 (or 0/2) publishing load from
// several MQTT 3.1.1 clients (paho.mqtt.golang).
type LoadConfig struct {
	Addr        string        // MQTT broker, host:port
	Name        string        // prefix of client ids and device ids; unique per test
	Clients     int           // paho clients, each on its own connection
	Devices     int           // devices per client; each device is a Kafka key with its own sequence
	Rate        int           // target messages per second over all clients
	Window      int           // publishes per client awaiting their ack; the sender waits when full
	PayloadSize int           // bytes per payload (see Payload)
	Topic       string        // fmt pattern with one %s for the device id, e.g. "load/%s"
	QoS         byte          // 0, 1 or 2
	Settle      time.Duration // after ctx ends: how long to wait for outstanding acks before disconnecting
}

// Pub is the outcome of one publish.
type Pub struct {
	Key   string
	Seq   int
	Sent  time.Time // when Publish was called (after a window slot was free)
	Done  time.Time // when the token completed (zero if it never did)
	Acked bool      // completed without error: the broker sent its PUBACK/PUBCOMP
}

// Latency is Done-Sent.
func (p Pub) Latency() time.Duration { return p.Done.Sub(p.Sent) }

// Load publishes per LoadConfig until its context ends. New starts nothing;
// Run does the work and returns when every client is disconnected.
type Load struct {
	cfg LoadConfig

	published atomic.Int64
	acked     atomic.Int64
	failed    atomic.Int64
	connects  atomic.Int64

	mu   sync.Mutex
	pubs []Pub
}

// NewLoad checks cfg and returns a load that Run will start.
func NewLoad(cfg LoadConfig) (*Load, error) {
	if cfg.Addr == "" || cfg.Name == "" || cfg.Topic == "" {
		return nil, fmt.Errorf("load: Addr, Name and Topic are required")
	}
	if cfg.Clients <= 0 || cfg.Devices <= 0 || cfg.Rate <= 0 || cfg.Window <= 0 {
		return nil, fmt.Errorf("load: Clients, Devices, Rate and Window must be positive")
	}
	if cfg.PayloadSize < len(cfg.Name)+32 {
		cfg.PayloadSize = len(cfg.Name) + 32
	}
	return &Load{cfg: cfg}, nil
}

// Published counts Publish calls; Acked and Failed count tokens completed
// with and without an error; Outstanding is what is left.
func (l *Load) Published() int64   { return l.published.Load() }
func (l *Load) Acked() int64       { return l.acked.Load() }
func (l *Load) Failed() int64      { return l.failed.Load() }
func (l *Load) Outstanding() int64 { return l.Published() - l.Acked() - l.Failed() }

// Connects counts successful MQTT connections (first ones and reconnects).
func (l *Load) Connects() int64 { return l.connects.Load() }

// Pubs returns every publish outcome recorded so far (completed ones only
// while Run is running; all of them once it has returned).
func (l *Load) Pubs() []Pub {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Pub(nil), l.pubs...)
}

// Run publishes until ctx ends, then waits up to Settle for outstanding
// acks, disconnects every client and returns. A client whose connection
// is lost reconnects (every 200ms) and goes on with the next sequence
// number; its unacked publishes count as not acked.
func (l *Load) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range l.cfg.Clients {
		wg.Go(func() { l.client(ctx, i) })
	}
	wg.Wait()
}

type inflight struct {
	tok mqtt.Token
	pub Pub
}

func (l *Load) record(p Pub) {
	if p.Acked {
		l.acked.Add(1)
	} else {
		l.failed.Add(1)
	}
	l.mu.Lock()
	l.pubs = append(l.pubs, p)
	l.mu.Unlock()
}

// client runs one paho client: a sender paced by the rate and the window,
// and a waiter completing tokens in publish order (acks come in order).
func (l *Load) client(ctx context.Context, idx int) {
	cfg := l.cfg
	id := fmt.Sprintf("%s-c%02d", cfg.Name, idx)
	devices := make([]string, cfg.Devices)
	for j := range devices {
		devices[j] = fmt.Sprintf("%s-d%02d", id, j)
	}
	seqs := make([]int, cfg.Devices)
	interval := time.Duration(int64(time.Second) * int64(cfg.Clients) / int64(cfg.Rate))

	// slots is the window: a publish takes one, its completion frees it.
	// pending has the same capacity, so sending to it never blocks.
	slots := make(chan struct{}, cfg.Window)
	pending := make(chan inflight, cfg.Window)
	settled := make(chan struct{}) // closed when the waiter must stop waiting
	waiterDone := make(chan struct{})
	go func() {
		defer close(waiterDone)
		for f := range pending {
			l.wait(f, settled)
			<-slots
		}
	}()

	var c mqtt.Client
	defer func() {
		close(pending)
		if cfg.Settle > 0 {
			t := time.NewTimer(cfg.Settle)
			select {
			case <-waiterDone:
			case <-t.C:
			}
			t.Stop()
		}
		close(settled)
		if c != nil {
			c.Disconnect(250)
		}
		<-waiterDone
	}()

	next := time.Now()
	for n := 0; ctx.Err() == nil; n++ {
		if c == nil || !c.IsConnectionOpen() {
			if c != nil {
				c.Disconnect(0)
			}
			if c = l.connect(ctx, id); c == nil {
				return
			}
		}
		if d := time.Until(next); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		} else if d < -time.Second {
			next = time.Now() // far behind (window full): do not burst
		}
		next = next.Add(interval)
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		j := n % cfg.Devices
		seqs[j]++
		f := inflight{pub: Pub{Key: devices[j], Seq: seqs[j], Sent: time.Now()}}
		f.tok = c.Publish(fmt.Sprintf(cfg.Topic, devices[j]), cfg.QoS, false, Payload(devices[j], seqs[j], cfg.PayloadSize))
		l.published.Add(1)
		pending <- f
	}
}

// wait completes one publish: its token's outcome, or not acked once
// settled is closed (the client is then disconnected, which completes the
// token with an error).
func (l *Load) wait(f inflight, settled <-chan struct{}) {
	select {
	case <-f.tok.Done():
	case <-settled:
		<-f.tok.Done()
	}
	f.pub.Done = time.Now()
	f.pub.Acked = f.tok.Error() == nil
	l.record(f.pub)
}

// connect dials until it succeeds or ctx ends (nil).
func (l *Load) connect(ctx context.Context, id string) mqtt.Client {
	for {
		o := testkit.V3Options(l.cfg.Addr, id)
		o.SetWriteTimeout(30 * time.Second)
		c := mqtt.NewClient(o)
		tok := c.Connect()
		if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			l.connects.Add(1)
			return c
		}
		c.Disconnect(0)
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// LatencyStats summarises publish latencies.
type LatencyStats struct {
	N             int
	P50, P99, Max time.Duration
}

func (s LatencyStats) String() string {
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", s.N, s.P50.Round(time.Millisecond), s.P99.Round(time.Millisecond), s.Max.Round(time.Millisecond))
}

// Latencies summarises the acked publishes sent within [from, to).
func Latencies(pubs []Pub, from, to time.Time) LatencyStats {
	var ds []time.Duration
	for _, p := range pubs {
		if p.Acked && !p.Sent.Before(from) && p.Sent.Before(to) {
			ds = append(ds, p.Latency())
		}
	}
	if len(ds) == 0 {
		return LatencyStats{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(f float64) time.Duration { return ds[int(f*float64(len(ds)-1))] }
	return LatencyStats{N: len(ds), P50: q(0.50), P99: q(0.99), Max: ds[len(ds)-1]}
}
