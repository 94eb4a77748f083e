package clusterkit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
)

// PublisherConfig describes one continuous publisher.
type PublisherConfig struct {
	// Name is the client id and the key in every payload (no spaces).
	Name string
	// Addr is asked at each (re)connect: a fixed replica, or the proxy.
	Addr    func() string
	Version byte // 4 or 5
	QoS     byte
	Topic   string
	// Rate is the publishes per second; 0: each as soon as the last one
	// was acked.
	Rate        int
	PayloadSize int // bytes (faultkit.Payload); default 64
}

// Publisher publishes Payload(Name, 1), Payload(Name, 2), ... on Topic,
// one at a time: each waits for its ack (QoS 1/2) before the next, so
// the order of publishes is the order of sequence numbers. A connection
// lost (or refused) is redialled every 200 ms; the publish in flight
// then counts as not acked and the next one takes the next number.
// NewPublisher starts nothing; Run publishes until its context ends.
type Publisher struct {
	cfg PublisherConfig

	acked    atomic.Int64
	failed   atomic.Int64
	connects atomic.Int64

	mu    sync.Mutex
	sent  []Sent
	addrs []string // where each connection went
}

// NewPublisher returns a publisher for cfg.
func NewPublisher(cfg PublisherConfig) *Publisher {
	if cfg.PayloadSize == 0 {
		cfg.PayloadSize = 64
	}
	return &Publisher{cfg: cfg}
}

// Name is the publisher's key.
func (p *Publisher) Name() string { return p.cfg.Name }

// Acked counts acknowledged publishes; Failed the others.
func (p *Publisher) Acked() int64  { return p.acked.Load() }
func (p *Publisher) Failed() int64 { return p.failed.Load() }

// Connects counts accepted connections.
func (p *Publisher) Connects() int64 { return p.connects.Load() }

// Sent returns every completed publish so far.
func (p *Publisher) Sent() []Sent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Sent(nil), p.sent...)
}

// Addrs returns the address each connection was made to.
func (p *Publisher) Addrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.addrs...)
}

// Run publishes until ctx ends, then lets the publish in flight complete
// (its own 30 s bound), disconnects and returns.
func (p *Publisher) Run(ctx context.Context) {
	var c *Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	var interval time.Duration
	if p.cfg.Rate > 0 {
		interval = time.Second / time.Duration(p.cfg.Rate)
	}
	next := time.Now()
	for seq := 1; ctx.Err() == nil; seq++ {
		for c == nil || !c.Alive() {
			if c != nil {
				c.Close()
				c = nil
			}
			addr := p.cfg.Addr()
			nc, err := Connect(ctx, Options{Addr: addr, ClientID: p.cfg.Name, Version: p.cfg.Version, CleanStart: true})
			if err == nil {
				c = nc
				p.connects.Add(1)
				p.mu.Lock()
				p.addrs = append(p.addrs, addr)
				p.mu.Unlock()
				break
			}
			if !sleep(ctx, 200*time.Millisecond) {
				return
			}
		}
		if d := time.Until(next); d > 0 {
			if !sleep(ctx, d) {
				return
			}
		} else if d < -time.Second {
			next = time.Now() // far behind (a reconnect): do not burst
		}
		next = next.Add(interval)
		s := Sent{Pub: p.cfg.Name, Seq: seq, QoS: p.cfg.QoS, Sent: time.Now()}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := c.Publish(pctx, p.cfg.Topic, p.cfg.QoS, false, faultkit.Payload(p.cfg.Name, seq, p.cfg.PayloadSize))
		cancel()
		s.Done, s.Acked = time.Now(), err == nil
		if s.Acked {
			p.acked.Add(1)
		} else {
			p.failed.Add(1)
			if !errors.Is(err, ErrNotAcked) {
				c.Drop() // the connection is gone or stuck: redial
			}
		}
		p.mu.Lock()
		p.sent = append(p.sent, s)
		p.mu.Unlock()
	}
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
