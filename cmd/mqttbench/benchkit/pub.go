package benchkit

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// PubConfig is the `pub` mode: Conns MQTT 3.1.1 connections (paho.mqtt.golang)
// or MQTT 5 connections (paho.golang, pub5.go), each publishing open loop at
// Rate messages/s (0 = as fast as its window allows) with at most Inflight
// unacknowledged QoS 1/2 publishes (v5: at most the server's Receive Maximum).
type PubConfig struct {
	Addr         string        // host:port
	MQTTVersion  int           // 3 (3.1.1, the default when 0) or 5
	Conns        int           // connections
	Rate         float64       // messages/s per connection, 0 = unlimited
	QoS          byte          // 0, 1, 2
	Size         int           // payload bytes (at least the header)
	Topic        string        // with %d for the connection number, e.g. "devices/b%d/telemetry"
	ClientPrefix string        // client id prefix; the id is prefix + number
	Inflight     int           // unacked publishes per connection
	Duration     time.Duration // measured time, after Warmup
	Warmup       time.Duration // published but not measured
	SourceIPs    []net.IP      // local addresses, round robin per connection
	KeepAlive    time.Duration
	AckTimeout   time.Duration // a publish not acked within it counts as error "timeout"
	ConnectRate  float64       // connections/s while connecting, 0 = unlimited
	// DrainMax bounds the wait for the reader after the publishers stop
	// (0: no bound; the wait also ends after drainIdle without progress).
	// What is still outstanding then counts as lost: "not read back
	// within DrainMax".
	DrainMax time.Duration
	// Stagger starts each connection's schedule at a random offset within
	// one interval (1/Rate), so that devices are not in step. Without it
	// every connection starts at once and the load is a burst of Conns
	// messages per interval: 1,000 devices at 10/s send 1,000 messages
	// every 100 ms.
	Stagger bool
}

// Defaults fills zero fields.
func (c *PubConfig) defaults() {
	if c.MQTTVersion == 0 {
		c.MQTTVersion = 3
	}
	if c.Conns <= 0 {
		c.Conns = 1
	}
	if c.Inflight <= 0 {
		c.Inflight = 1
	}
	if c.Topic == "" {
		c.Topic = "devices/bench%d/telemetry"
	}
	if c.ClientPrefix == "" {
		c.ClientPrefix = "bench"
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 30 * time.Second
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 30 * time.Second
	}
}

// ClientSummary is the publishers' side.
type ClientSummary struct {
	Conns       int               `json:"connections"`
	Connected   int               `json:"connected"`
	SentTotal   uint64            `json:"sent_total"`  // including warm-up
	AckedTotal  uint64            `json:"acked_total"` // including warm-up
	Sent        uint64            `json:"sent"`
	Acked       uint64            `json:"acked"`
	SentPerSec  float64           `json:"sent_per_sec"`
	AckedPerSec float64           `json:"acked_per_sec"`
	Puback      Quantiles         `json:"puback_latency"`
	Errors      map[string]uint64 `json:"errors"`
}

// Summary is the JSON and text result of a run.
type Summary struct {
	Mode    string          `json:"mode"`
	Started time.Time       `json:"started"`
	Window  float64         `json:"measured_seconds"`
	Config  any             `json:"config"`
	Client  *ClientSummary  `json:"client,omitempty"`
	Kafka   *KafkaSummary   `json:"kafka,omitempty"`
	Deliver *DeliverSummary `json:"deliver,omitempty"`
	Conn    *ConnSummary    `json:"conn,omitempty"`
	Sub     *SubSummary     `json:"sub,omitempty"`
	Produce *ProduceSummary `json:"kafka_produce,omitempty"`
	Forward *ForwardSummary `json:"forward,omitempty"`
}

type pubStats struct {
	sent, acked       atomic.Uint64 // in the measured window
	sentAll, ackedAll atomic.Uint64
	puback            Hist
	live              *intervalHist
	errs              Errors
	measuring         atomic.Bool
	connected         atomic.Int64
}

// RunPub runs the pub mode. With reader non-nil, payloads are accounted
// where it reads them back (Kafka, or MQTT subscribers): QoS 0 publishes are expected once sent, QoS 1/2 once acked; after
// the publishers stop, it waits up to drainIdle without progress for the rest.
// A progress line goes to progressW every second (nil: none).
func RunPub(ctx context.Context, cfg PubConfig, reader Reader, drainIdle time.Duration, progressW io.Writer) (*Summary, error) {
	cfg.defaults()
	dial := dial3
	switch cfg.MQTTVersion {
	case 3:
	case 5:
		dial = dial5
	default:
		return nil, fmt.Errorf("mqtt version %d: want 3 (3.1.1) or 5", cfg.MQTTVersion)
	}
	st := &pubStats{live: newIntervalHist()}
	sum := &Summary{Mode: "pub", Started: time.Now(), Config: cfg}

	var rwg sync.WaitGroup
	rctx, rcancel := context.WithCancel(context.Background())
	defer func() { rcancel(); rwg.Wait() }()
	var rerr error
	if reader != nil {
		rwg.Add(1)
		go func() { defer rwg.Done(); rerr = reader.Run(rctx) }()
	}

	clients, err := connectAll(ctx, cfg, st, dial)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.disconnect()
			}
		}
	}()
	if err != nil {
		return nil, err
	}

	start := time.Now()
	measureStart := start.Add(cfg.Warmup)
	end := measureStart.Add(cfg.Duration)
	var lastSent, lastAcked, lastLanded uint64
	stopProgress := progress(ctx, progressW, func(el time.Duration) string {
		s, a := st.sentAll.Load(), st.ackedAll.Load()
		h := st.live.swap()
		line := fmt.Sprintf("%5s sent/s %8d acked/s %8d puback p99 %7.2fms errors %d", el, s-lastSent, a-lastAcked, float64(h.Quantile(0.99))/1e6, st.errs.Total())
		lastSent, lastAcked = s, a
		if reader != nil {
			l := reader.Landed()
			kh := reader.swapLive()
			count, lat := reader.progressNames()
			line += fmt.Sprintf(" | %s %8d %s %7.2fms", count, l-lastLanded, lat, float64(kh.Quantile(0.99))/1e6)
			lastLanded = l
		}
		if time.Now().Before(measureStart) {
			line += " (warm-up)"
		} else if time.Now().After(end) {
			line += " (draining)"
		}
		return line
	})

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if reader != nil {
		reader.MeasureFrom(measureStart)
	}
	var landedAtStart, landedAtEnd atomic.Uint64
	if cfg.Warmup <= 0 {
		st.measuring.Store(true) // no warm-up: the first publishes count too
	}
	wg.Add(1)
	go func() { // window markers
		defer wg.Done()
		select {
		case <-runCtx.Done():
			return
		case <-time.After(time.Until(measureStart)):
		}
		st.measuring.Store(true)
		if reader != nil {
			landedAtStart.Store(reader.Landed())
		}
		select {
		case <-runCtx.Done():
		case <-time.After(time.Until(end)):
		}
		st.measuring.Store(false)
		if reader != nil {
			landedAtEnd.Store(reader.Landed())
		}
	}()
	for i, c := range clients {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			publishLoop(runCtx, cfg, i, c, st, reader, end)
		}()
	}
	wg.Wait()
	cancel()
	window := time.Since(measureStart)
	if window > cfg.Duration {
		window = cfg.Duration
	}
	if reader != nil {
		if landedAtEnd.Load() == 0 {
			landedAtEnd.Store(reader.Landed())
		}
		dctx := ctx
		if cfg.DrainMax > 0 {
			var dcancel context.CancelFunc
			dctx, dcancel = context.WithTimeout(ctx, cfg.DrainMax)
			defer dcancel()
		}
		reader.WaitDrained(dctx, drainIdle)
	}
	stopProgress()

	sum.Window = window.Seconds()
	cs := &ClientSummary{SentTotal: st.sentAll.Load(), AckedTotal: st.ackedAll.Load(), Conns: cfg.Conns, Connected: int(st.connected.Load()), Sent: st.sent.Load(), Acked: st.acked.Load(), Puback: st.puback.Summary(), Errors: st.errs.Snapshot()}
	if window > 0 {
		cs.SentPerSec = float64(cs.Sent) / window.Seconds()
		cs.AckedPerSec = float64(cs.Acked) / window.Seconds()
	}
	sum.Client = cs
	if reader != nil {
		rcancel()
		rwg.Wait()
		if rerr != nil {
			return sum, rerr
		}
		reader.summarize(sum, window, landedAtEnd.Load()-landedAtStart.Load())
	}
	return sum, nil
}

// publisher is one connected client of the pub mode, MQTT 3.1.1 (pub3) or
// 5 (pub5).
type publisher interface {
	// publish sends one message, after the ones before it, and returns
	// how to learn its fate: wait blocks until the message is acknowledged
	// (QoS 0: handed to the connection) and returns "", or returns an error
	// reason, "timeout" once timeout has passed. wait is called exactly once,
	// from another goroutine.
	publish(ctx context.Context, topic string, qos byte, payload []byte) (wait func(timeout time.Duration) string)
	// window is the most unacknowledged publishes the connection may have.
	window() int
	disconnect()
}

// dialFunc connects client number i of cfg.
type dialFunc func(ctx context.Context, cfg PubConfig, i int) (publisher, error)

// pub3 is an MQTT 3.1.1 connection: a paho.mqtt.golang client.
type pub3 struct {
	c        mqtt.Client
	inflight int
}

func dial3(_ context.Context, cfg PubConfig, i int) (publisher, error) {
	o := mqtt.NewClientOptions().AddBroker("tcp://" + cfg.Addr).
		SetClientID(fmt.Sprintf("%s%d", cfg.ClientPrefix, i)).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetKeepAlive(cfg.KeepAlive).SetOrderMatters(false).
		SetConnectTimeout(30 * time.Second).SetWriteTimeout(30 * time.Second).
		SetMaxResumePubInFlight(cfg.Inflight).
		SetDialer(dialerFor(cfg.SourceIPs, i, 30*time.Second))
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		err := tok.Error()
		if err == nil {
			err = fmt.Errorf("connect timeout")
		}
		return nil, err
	}
	return pub3{c: c, inflight: cfg.Inflight}, nil
}

func (p pub3) publish(_ context.Context, topic string, qos byte, payload []byte) func(time.Duration) string {
	tok := p.c.Publish(topic, qos, false, payload)
	return func(timeout time.Duration) string {
		if !tok.WaitTimeout(timeout) {
			return "timeout"
		}
		if err := tok.Error(); err != nil {
			return reason(err)
		}
		return ""
	}
}

func (p pub3) window() int { return p.inflight }
func (p pub3) disconnect() { p.c.Disconnect(100) }

// connectAll connects cfg.Conns clients with dial, at cfg.ConnectRate, 64 at
// a time. Failed connections are nil and counted as errors.
func connectAll(ctx context.Context, cfg PubConfig, st *pubStats, dial dialFunc) ([]publisher, error) {
	clients := make([]publisher, cfg.Conns)
	idx := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(64, cfg.Conns); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				c, err := dial(ctx, cfg, i)
				if err != nil {
					st.errs.Add("connect: " + reason(err))
					continue
				}
				st.connected.Add(1)
				clients[i] = c
			}
		}()
	}
	var tick <-chan time.Time
	if cfg.ConnectRate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / cfg.ConnectRate))
		defer t.Stop()
		tick = t.C
	}
	var err error
feed:
	for i := 0; i < cfg.Conns; i++ {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				err = ctx.Err()
				break feed
			}
		}
		select {
		case idx <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(idx)
	wg.Wait()
	if err == nil && st.connected.Load() == 0 {
		err = fmt.Errorf("no connection to %s succeeded: %v", cfg.Addr, st.errs.Snapshot())
	}
	return clients, err
}

func publishLoop(ctx context.Context, cfg PubConfig, n int, c publisher, st *pubStats, reader Reader, end time.Time) {
	id := fmt.Sprintf("%s%d", cfg.ClientPrefix, n)
	topic := cfg.Topic
	if strings.Contains(topic, "%d") {
		topic = fmt.Sprintf(cfg.Topic, n)
	}
	window := make(chan struct{}, c.window())
	var acks sync.WaitGroup
	defer acks.Wait()
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	next := time.Now()
	if cfg.Stagger && interval > 0 {
		next = next.Add(rand.N(interval))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for seq := uint64(0); ; seq++ {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		if interval > 0 {
			if d := next.Sub(now); d > 0 {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
			next = next.Add(interval) // open loop: falling behind means sending back to back
		}
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return
		}
		sent := time.Now()
		measured := st.measuring.Load()
		payload := EncodePayload(nil, id, seq, sent, cfg.Size)
		wait := c.publish(ctx, topic, cfg.QoS, payload)
		st.sentAll.Add(1)
		if measured {
			st.sent.Add(1)
		}
		if cfg.QoS == 0 && reader != nil {
			reader.expect(id, seq)
		}
		acks.Add(1)
		go func() {
			defer acks.Done()
			defer func() { <-window }()
			if r := wait(cfg.AckTimeout); r != "" {
				st.errs.Add(r)
				return
			}
			d := time.Since(sent).Nanoseconds()
			st.ackedAll.Add(1)
			if measured {
				st.acked.Add(1)
				st.puback.Record(d)
			}
			st.live.Record(d)
			if cfg.QoS > 0 && reader != nil {
				reader.expect(id, seq)
			}
		}()
	}
}
