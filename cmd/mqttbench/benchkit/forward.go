package benchkit

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// ForwardConfig is the `forward` mode: the do-it-yourself route that a user
// would build instead of the bridge (issue 14). One paho subscriber on an
// MQTT broker (Mosquitto) hands every message to a sarama AsyncProducer and
// acks it to the broker only after Kafka acked it. The producer has the
// settings a careful user would pick: acks=all, lz4, a short linger, sarama's
// default of 5 requests in flight per broker, not idempotent.
type ForwardConfig struct {
	Addr      string // MQTT broker host:port
	ClientID  string
	Filter    string // subscription, QoS 1
	Bootstrap []string
	Topic     string        // Kafka topic; the key is the MQTT topic's last level
	Linger    time.Duration // sarama Flush.Frequency
	// MaxOpenRequests is sarama's Net.MaxOpenRequests (5, its default and
	// the Java client's max.in.flight.requests.per.connection).
	MaxOpenRequests int
}

// ForwardSummary is what `forward` counted.
type ForwardSummary struct {
	Received uint64            `json:"received"`
	Acked    uint64            `json:"acked_by_kafka"`
	Seconds  float64           `json:"seconds"`
	Errors   map[string]uint64 `json:"errors"`
}

// RunForward runs the forwarder until ctx ends, then stops reading, waits
// (at most 30 s) for Kafka's answers to what it forwarded and returns.
func RunForward(ctx context.Context, cfg ForwardConfig, progressW io.Writer) (*Summary, error) {
	sc := sarama.NewConfig()
	sc.ClientID = cfg.ClientID
	sc.Version = sarama.V3_0_0_0
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Compression = sarama.CompressionLZ4
	sc.Producer.Flush.Frequency = cfg.Linger
	sc.Producer.Flush.Bytes = 1 << 20
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	if cfg.MaxOpenRequests > 0 {
		sc.Net.MaxOpenRequests = cfg.MaxOpenRequests
	}
	p, err := sarama.NewAsyncProducer(cfg.Bootstrap, sc)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	sum := &Summary{Mode: "forward", Started: time.Now(), Config: cfg}
	var received, acked atomic.Uint64
	var errs Errors
	done := make(chan struct{})
	go func() {
		defer close(done)
		succ, fail := p.Successes(), p.Errors()
		for succ != nil || fail != nil {
			select {
			case m, ok := <-succ:
				if !ok {
					succ = nil
					continue
				}
				m.Metadata.(mqtt.Message).Ack() // only now: the message is in Kafka
				acked.Add(1)
			case e, ok := <-fail:
				if !ok {
					fail = nil
					continue
				}
				errs.Add(reason(e.Err)) // not acked: the broker resends it after a reconnect
			}
		}
	}()

	o := mqtt.NewClientOptions().AddBroker("tcp://" + cfg.Addr).SetClientID(cfg.ClientID).
		SetCleanSession(true).SetAutoReconnect(false).
		SetOrderMatters(true).    // one handler at a time, in arrival order: per-key order into Kafka
		SetAutoAckDisabled(true). // PUBACK after Kafka's ack, not on receipt
		SetKeepAlive(60 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		p.AsyncClose()
		<-done
		return nil, fmt.Errorf("connect: %v", tok.Error())
	}
	tok := c.Subscribe(cfg.Filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		received.Add(1)
		t := m.Topic()
		key := t[strings.LastIndexByte(t, '/')+1:]
		// Blocks while sarama's input buffer is full: paho then stops
		// reading, and the broker's socket fills (backpressure).
		p.Input() <- &sarama.ProducerMessage{Topic: cfg.Topic, Key: sarama.StringEncoder(key),
			Value: sarama.ByteEncoder(m.Payload()), Metadata: m}
	})
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		c.Disconnect(100)
		p.AsyncClose()
		<-done
		return nil, fmt.Errorf("subscribe: %v", tok.Error())
	}
	var last uint64
	stop := progress(ctx, progressW, func(el time.Duration) string {
		n := acked.Load()
		s := fmt.Sprintf("%5s forwarded/s %8d received %d errors %d", el, n-last, received.Load(), errs.Total())
		last = n
		return s
	})
	start := time.Now()
	<-ctx.Done()
	stop()
	deadline := time.Now().Add(30 * time.Second)
	for acked.Load()+errs.Total() < received.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	c.Disconnect(250)
	p.AsyncClose()
	<-done
	sum.Window = time.Since(start).Seconds()
	sum.Forward = &ForwardSummary{Received: received.Load(), Acked: acked.Load(), Seconds: sum.Window, Errors: errs.Snapshot()}
	return sum, nil
}
