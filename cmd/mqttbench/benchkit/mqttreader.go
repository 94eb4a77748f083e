package benchkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTTReaderConfig is the pub mode's read-back by MQTT subscribers (pub
// --sub-addr): Conns MQTT 3.1.1 subscribers at Addr, subscriber i taking
// Topics[j] for every j with j % Conns == i, so that each publisher's
// topic has exactly one subscriber and a payload seen twice is a
// duplicate delivery, not a second subscriber.
type MQTTReaderConfig struct {
	Addr         string
	Conns        int
	Topics       []string // the publishers' topics, one per publisher (or one for all)
	QoS          byte
	Persistent   bool // clean session false: the subscribers' sessions are persistent
	ClientPrefix string
	SourceIPs    []net.IP
	KeepAlive    time.Duration
	// Settle is waited after the last SUBACK, before OpenMQTTReader
	// returns: in a cluster the publishers' replica learns the new
	// subscriptions from the sessions log a moment after the SUBACK.
	Settle time.Duration
}

// MQTTReader is a Reader of MQTT subscribers: the latency is from the
// payload's send time to its delivery to the subscriber (publish → deliver).
type MQTTReader struct {
	readBack
	cfg     MQTTReaderConfig
	clients []mqtt.Client
}

var _ Reader = (*MQTTReader)(nil)

// OpenMQTTReader connects and subscribes every subscriber (so that nothing
// published afterwards is missed), then waits cfg.Settle.
func OpenMQTTReader(ctx context.Context, cfg MQTTReaderConfig) (*MQTTReader, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 1
	}
	if len(cfg.Topics) == 0 {
		return nil, errors.New("mqtt reader: no topic")
	}
	if len(cfg.Topics) == 1 && cfg.Conns > 1 {
		return nil, fmt.Errorf("mqtt reader: %d subscribers of one topic would each see every message; want one subscriber, or a topic per publisher (%%d)", cfg.Conns)
	}
	if cfg.Conns > len(cfg.Topics) {
		cfg.Conns = len(cfg.Topics)
	}
	if cfg.ClientPrefix == "" {
		cfg.ClientPrefix = "benchreader"
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 30 * time.Second
	}
	r := &MQTTReader{readBack: newReadBack(), cfg: cfg}
	for i := 0; i < cfg.Conns; i++ {
		filters := make(map[string]byte)
		for j := i; j < len(cfg.Topics); j += cfg.Conns {
			filters[cfg.Topics[j]] = cfg.QoS
		}
		o := mqtt.NewClientOptions().AddBroker("tcp://" + cfg.Addr).
			SetClientID(fmt.Sprintf("%s%d", cfg.ClientPrefix, i)).SetCleanSession(!cfg.Persistent).
			SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(cfg.KeepAlive).
			SetOrderMatters(true). // handlers in arrival order: order violations are the broker's
			SetConnectTimeout(30 * time.Second).
			SetDialer(dialerFor(cfg.SourceIPs, i, 30*time.Second))
		c := mqtt.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			r.disconnect()
			return nil, fmt.Errorf("subscriber %d connect to %s: %v", i, cfg.Addr, tok.Error())
		}
		r.clients = append(r.clients, c)
		tok := c.SubscribeMultiple(filters, func(_ mqtt.Client, m mqtt.Message) { r.handle(m.Payload(), time.Now()) })
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			r.disconnect()
			return nil, fmt.Errorf("subscriber %d subscribe: %v", i, tok.Error())
		}
		for f, code := range tok.(*mqtt.SubscribeToken).Result() {
			if code >= 0x80 {
				r.disconnect()
				return nil, fmt.Errorf("subscriber %d subscribe %s: SUBACK %#x", i, f, code)
			}
		}
	}
	select {
	case <-ctx.Done():
		r.disconnect()
		return nil, ctx.Err()
	case <-time.After(cfg.Settle):
	}
	return r, nil
}

// Run waits until ctx ends (the subscribers' handlers do the reading),
// then disconnects them.
func (r *MQTTReader) Run(ctx context.Context) error {
	<-ctx.Done()
	r.disconnect()
	return nil
}

func (r *MQTTReader) disconnect() {
	for _, c := range r.clients {
		c.Disconnect(100)
	}
	r.clients = nil
}

// DeliverSummary is what the MQTT reader measured.
type DeliverSummary struct {
	Addr         string     `json:"addr"`
	Subscribers  int        `json:"subscribers"`
	Persistent   bool       `json:"persistent"`
	Delivered    uint64     `json:"delivered"`
	DeliveredSec float64    `json:"delivered_per_sec"`
	Foreign      uint64     `json:"foreign"`
	Latency      Quantiles  `json:"publish_to_deliver_latency"`
	Accounting   Accounting `json:"accounting"`
	LossPercent  float64    `json:"loss_percent"`
}

func (r *MQTTReader) progressNames() (string, string) { return "delivered/s", "deliver p99" }

func (r *MQTTReader) summarize(sum *Summary, window time.Duration, landedInWindow uint64) {
	a := r.Ledger.Report()
	d := &DeliverSummary{Addr: r.cfg.Addr, Subscribers: r.cfg.Conns, Persistent: r.cfg.Persistent, Delivered: r.Landed(),
		Foreign: r.foreign.Load(), Latency: r.Latency.Summary(), Accounting: a}
	if window > 0 {
		d.DeliveredSec = float64(landedInWindow) / window.Seconds()
	}
	if a.Expected > 0 {
		d.LossPercent = 100 * float64(a.Lost) / float64(a.Expected)
	}
	sum.Deliver = d
}
