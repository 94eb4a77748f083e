package benchkit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestRunPubMQTTReader publishes QoS 1 from 6 connections, read back by 3
// persistent subscribers of the same broker (each taking two publishers'
// topics): every acked publish is delivered once and in order, and the
// summary carries the deliver side.
func TestRunPubMQTTReader(t *testing.T) {
	_, addr := startBroker(t, &recordSink{}, nil)
	const conns = 6
	topics := make([]string, conns)
	for i := range topics {
		topics[i] = fmt.Sprintf("bench/d%d", i)
	}
	ctx := context.Background()
	r, err := OpenMQTTReader(ctx, MQTTReaderConfig{Addr: addr, Conns: 3, Topics: topics, QoS: 1, Persistent: true, ClientPrefix: "rsub"})
	if err != nil {
		t.Fatalf("OpenMQTTReader: %v", err)
	}
	sum, err := RunPub(ctx, PubConfig{
		Addr: addr, Conns: conns, Rate: 200, QoS: 1, Size: 64, Topic: "bench/d%d", ClientPrefix: "rpub",
		Inflight: 8, Duration: time.Second, Warmup: 200 * time.Millisecond,
	}, r, 5*time.Second, nil)
	if err != nil {
		t.Fatalf("RunPub: %v", err)
	}
	d := sum.Deliver
	if d == nil || sum.Kafka != nil {
		t.Fatalf("summary: deliver %v, kafka %v; want deliver only", d, sum.Kafka)
	}
	a := d.Accounting
	if sum.Client.AckedTotal == 0 || a.Expected != sum.Client.AckedTotal {
		t.Errorf("expected %d; want the %d acked publishes (> 0)", a.Expected, sum.Client.AckedTotal)
	}
	if a.Lost != 0 || a.Duplicates != 0 || a.OrderViolations != 0 || a.Unexpected != 0 {
		t.Errorf("accounting %+v; want nothing lost, duplicated, out of order or unexpected", a)
	}
	if d.Subscribers != 3 || !d.Persistent || d.Latency.Count == 0 {
		t.Errorf("deliver summary %+v; want 3 persistent subscribers and a latency", d)
	}
}

// TestOpenMQTTReaderRefuses: several subscribers of one topic would each
// count every message, so OpenMQTTReader refuses them.
func TestOpenMQTTReaderRefuses(t *testing.T) {
	if _, err := OpenMQTTReader(context.Background(), MQTTReaderConfig{Addr: "127.0.0.1:1", Conns: 2, Topics: []string{"bench/x"}}); err == nil {
		t.Errorf("OpenMQTTReader with 2 subscribers of one topic: no error; want one")
	}
}

// blackHole is a Reader that never reads anything back.
type blackHole struct{ readBack }

func (b *blackHole) Run(ctx context.Context) error   { <-ctx.Done(); return nil }
func (b *blackHole) progressNames() (string, string) { return "read/s", "p99" }
func (b *blackHole) summarize(sum *Summary, _ time.Duration, _ uint64) {
	sum.Deliver = &DeliverSummary{Accounting: b.Ledger.Report()}
}

// TestRunPubDrainMax: with nothing read back, RunPub waits DrainMax, not
// drainIdle, and counts every acked publish as lost.
func TestRunPubDrainMax(t *testing.T) {
	_, addr := startBroker(t, &recordSink{}, nil)
	r := &blackHole{readBack: newReadBack()}
	start := time.Now()
	sum, err := RunPub(context.Background(), PubConfig{
		Addr: addr, Conns: 2, Rate: 50, QoS: 1, Duration: 300 * time.Millisecond, DrainMax: 300 * time.Millisecond,
	}, r, time.Minute, nil)
	if err != nil {
		t.Fatalf("RunPub: %v", err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("RunPub took %v; want about Duration + DrainMax, far below drainIdle (1m)", el)
	}
	if a := sum.Deliver.Accounting; a.Lost == 0 || a.Lost != sum.Client.AckedTotal {
		t.Errorf("lost %d; want every acked publish (%d, > 0)", a.Lost, sum.Client.AckedTotal)
	}
}
