package bridge

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// Probe timing: a stopped broker shows in /readyz within about
// probeInterval+probeTimeout.
const (
	probeInterval = 2 * time.Second
	probeTimeout  = time.Second
)

// kafkaProbe tells whether any bootstrap server accepts a TCP connection.
// Without the spool the producer's own view is not enough for /readyz:
// sarama's client stays "connected" while the brokers are down, and the
// producer notices only when a record fails, which needs traffic. The probe
// is a plain dial, so it also works with TLS and SASL (it does not speak
// Kafka); a broker that accepts connections but hangs is still caught by the
// producer once a record times out.
type kafkaProbe struct {
	addrs    []string
	interval time.Duration
	timeout  time.Duration
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)

	ran atomic.Bool // a round has finished
	ok  atomic.Bool // the last round reached a server
}

func newKafkaProbe(addrs []string) *kafkaProbe {
	var d net.Dialer
	return &kafkaProbe{addrs: addrs, interval: probeInterval, timeout: probeTimeout, dial: d.DialContext}
}

// Run probes every interval until ctx ends.
func (p *kafkaProbe) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.ok.Store(p.round(ctx))
		p.ran.Store(true)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round dials the servers in order and stops at the first that accepts.
func (p *kafkaProbe) round(ctx context.Context) bool {
	for _, a := range p.addrs {
		dctx, cancel := context.WithTimeout(ctx, p.timeout)
		c, err := p.dial(dctx, "tcp", a)
		cancel()
		if err == nil {
			_ = c.Close()
			return true
		}
	}
	return false
}

// Reachable reports the last round's result; known is false until the
// first round has finished.
func (p *kafkaProbe) Reachable() (ok, known bool) {
	return p.ok.Load(), p.ran.Load()
}
