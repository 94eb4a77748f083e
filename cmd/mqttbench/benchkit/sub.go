package benchkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// SubConfig is the `sub` mode: Conns subscribers to Filter for Duration.
type SubConfig struct {
	Addr         string
	Conns        int
	Filter       string
	QoS          byte
	Duration     time.Duration
	ClientPrefix string
	SourceIPs    []net.IP
}

// SubSummary is what `sub` measured: deliveries of bench payloads, their
// latency from the payload's send time, and loss, duplicates and order per
// publisher as seen by each subscriber.
type SubSummary struct {
	Subscribed   int        `json:"subscribed"`
	Received     uint64     `json:"received"`
	ReceivedRate float64    `json:"received_per_sec"`
	Foreign      uint64     `json:"foreign"`
	Latency      Quantiles  `json:"latency"`
	Accounting   Accounting `json:"accounting"`
}

// RunSub runs the sub mode. Loss counts, per subscriber and publisher, the
// gaps below the highest sequence seen.
func RunSub(ctx context.Context, cfg SubConfig, progressW io.Writer) (*Summary, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 1
	}
	if cfg.ClientPrefix == "" {
		cfg.ClientPrefix = "benchsub"
	}
	sum := &Summary{Mode: "sub", Started: time.Now(), Config: cfg}
	var received, foreign atomic.Uint64
	var hist Hist
	live := newIntervalHist()
	ledger := NewLedger()
	var clients []mqtt.Client
	defer func() {
		for _, c := range clients {
			c.Disconnect(100)
		}
	}()
	for i := 0; i < cfg.Conns; i++ {
		sub := fmt.Sprintf("%s%d/", cfg.ClientPrefix, i)
		o := mqtt.NewClientOptions().AddBroker("tcp://" + cfg.Addr).
			SetClientID(fmt.Sprintf("%s%d", cfg.ClientPrefix, i)).SetCleanSession(true).
			SetAutoReconnect(false).SetOrderMatters(true). // handlers in arrival order, so order violations are the broker's
			SetDialer(dialerFor(cfg.SourceIPs, i, 30*time.Second))
		c := mqtt.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			return nil, fmt.Errorf("subscriber %d connect: %v", i, tok.Error())
		}
		clients = append(clients, c)
		tok := c.Subscribe(cfg.Filter, cfg.QoS, func(_ mqtt.Client, m mqtt.Message) {
			now := time.Now()
			client, seq, sent, err := DecodePayload(m.Payload())
			if err != nil {
				foreign.Add(1)
				return
			}
			received.Add(1)
			d := now.Sub(sent).Nanoseconds()
			hist.Record(d)
			live.Record(d)
			ledger.Observe(sub+client, seq)
		})
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			return nil, fmt.Errorf("subscriber %d subscribe: %v", i, tok.Error())
		}
	}
	var last uint64
	stop := progress(ctx, progressW, func(el time.Duration) string {
		n := received.Load()
		h := live.swap()
		s := fmt.Sprintf("%5s received/s %8d p99 %7.2fms", el, n-last, float64(h.Quantile(0.99))/1e6)
		last = n
		return s
	})
	start := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(cfg.Duration):
	}
	stop()
	el := time.Since(start)
	acc := ledger.Report()
	// Without a publisher's ledger, the expected set is 0..max seen: count
	// the gaps as lost.
	acc.Lost = ledger.gaps()
	sum.Window = el.Seconds()
	sum.Sub = &SubSummary{Subscribed: len(clients), Received: received.Load(), ReceivedRate: float64(received.Load()) / el.Seconds(), Foreign: foreign.Load(), Latency: hist.Summary(), Accounting: acc}
	return sum, nil
}

// gaps counts, per client, the sequence numbers below the highest one seen
// that were never seen (from the lowest one seen).
func (l *Ledger) gaps() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n uint64
	for _, b := range l.clients {
		if !b.any {
			continue
		}
		lo := uint64(0)
		for lo <= b.maxSeen && !b.seen.has(lo) {
			lo++
		}
		n += b.maxSeen - lo + 1 - b.seen.count()
	}
	return n
}
