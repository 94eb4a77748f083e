package clusterkit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// SubscriberConfig describes one recording subscriber.
type SubscriberConfig struct {
	ClientID string
	// Addr is asked at each (re)connect: a fixed replica, or the proxy.
	Addr    func() string
	Version byte // 4 or 5
	Filter  string
	QoS     byte
	// Persistent: Clean Start 0 with a session expiry of 10 minutes (v5),
	// Clean Session 0 (v3). It then subscribes only when the CONNACK says
	// no session is present, so a subscription that survives is the
	// server's doing.
	Persistent bool
}

// ConnInfo is one connection a subscriber made.
type ConnInfo struct {
	Addr           string
	At             time.Time
	SessionPresent bool
	Subscribed     bool // it sent SUBSCRIBE (no session was present)
}

// Subscriber records every message it receives, on any of its
// connections, parsed as Receipts. Connect makes one connection; Run keeps
// one up until its context ends.
type Subscriber struct {
	cfg SubscriberConfig

	mu       sync.Mutex
	c        *Client
	conns    []ConnInfo
	failures []string // connection attempts that failed, with when and why
	receipts []Receipt
	topics   map[string]int // receipts per topic
	ended    []*Client      // connections Run saw end (for ServerDisconnects)
}

// NewSubscriber returns a subscriber for cfg; it starts nothing.
func NewSubscriber(cfg SubscriberConfig) *Subscriber {
	return &Subscriber{cfg: cfg, topics: map[string]int{}}
}

// ID is the subscriber's client id.
func (s *Subscriber) ID() string { return s.cfg.ClientID }

// Connect makes one connection (closing a live previous one first) and
// subscribes unless a persistent session was present.
func (s *Subscriber) Connect(ctx context.Context) (ConnInfo, error) {
	s.Close()
	addr := s.cfg.Addr()
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	o := Options{Addr: addr, ClientID: s.cfg.ClientID, Version: s.cfg.Version, CleanStart: !s.cfg.Persistent,
		OnMessage: func(m Message) {
			r := ParseReceipt(m, n)
			s.mu.Lock()
			s.receipts = append(s.receipts, r)
			s.topics[m.Topic]++
			s.mu.Unlock()
		}}
	if s.cfg.Persistent {
		o.Expiry = 600
	}
	c, err := Connect(ctx, o)
	if err != nil {
		s.fail(addr, err)
		return ConnInfo{}, err
	}
	ci := ConnInfo{Addr: addr, At: time.Now(), SessionPresent: c.SessionPresent()}
	if !(s.cfg.Persistent && ci.SessionPresent) {
		ci.Subscribed = true
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.Subscribe(sctx, s.cfg.Filter, s.cfg.QoS)
		cancel()
		if err != nil {
			c.Close()
			err = fmt.Errorf("subscribe %s at %s: %w", s.cfg.Filter, addr, err)
			s.fail(addr, err)
			return ci, err
		}
	}
	s.mu.Lock()
	s.c = c
	s.conns = append(s.conns, ci)
	s.mu.Unlock()
	return ci, nil
}

func (s *Subscriber) fail(addr string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), addr, err))
}

// Failures lists the connection attempts that failed (refused while a
// replica caught up, dial errors, a SUBSCRIBE refused), oldest first.
func (s *Subscriber) Failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.failures...)
}

// Client is the current connection (nil before the first).
func (s *Subscriber) Client() *Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// Close disconnects the current connection normally (a persistent
// session stays, offline). Idempotent.
func (s *Subscriber) Close() {
	s.mu.Lock()
	c := s.c
	s.c = nil
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Run keeps a connection up until ctx ends (redialling every 200 ms when
// it is lost or refused), then closes it.
func (s *Subscriber) Run(ctx context.Context) {
	defer s.Close()
	for ctx.Err() == nil {
		c := s.Client()
		if c == nil || !c.Alive() {
			if _, err := s.Connect(ctx); err != nil {
				if !sleep(ctx, 200*time.Millisecond) {
					return
				}
				continue
			}
			c = s.Client()
		}
		select {
		case <-c.Done():
			s.mu.Lock()
			s.ended = append(s.ended, c)
			s.mu.Unlock()
		case <-ctx.Done():
		}
	}
}

// ServerDisconnects counts the v5 DISCONNECTs from the server that ended
// a connection Run kept, by reason code (0x8B shutting down, 0x8E taken
// over). It reads each ended connection now: paho.golang reports the
// DISCONNECT on its own goroutine, after the connection is over.
func (s *Subscriber) ServerDisconnects() map[byte]int {
	s.mu.Lock()
	ended := append([]*Client(nil), s.ended...)
	s.mu.Unlock()
	out := map[byte]int{}
	for _, c := range ended {
		if code, ok := c.ServerDisconnect(); ok {
			out[code]++
		}
	}
	return out
}

// Receipts returns every message received so far, in arrival order.
func (s *Subscriber) Receipts() []Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Receipt(nil), s.receipts...)
}

// Connections returns the connections made so far.
func (s *Subscriber) Connections() []ConnInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ConnInfo(nil), s.conns...)
}

// Missing counts the acked publishes of sent not received yet (poll it
// before Check).
func (s *Subscriber) Missing(sent []Sent) int {
	s.mu.Lock()
	have := make(map[pubSeq]bool, len(s.receipts))
	for _, r := range s.receipts {
		have[pubSeq{r.Pub, r.Seq}] = true
	}
	s.mu.Unlock()
	n := 0
	for _, x := range sent {
		if x.Acked && !have[pubSeq{x.Pub, x.Seq}] {
			n++
		}
	}
	return n
}
