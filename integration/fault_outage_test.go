package integration

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// runOutage is the scenario of the Kafka-stopped and Kafka-hangs tests:
// the usual load (2,000 msg/s of QoS 1 from 10 paho clients) runs through
// a 30 s fault and after it; then publishing stops, the spool drains, and
// every acked publish must be in Kafka, per-key order intact. PUBACK
// latency during the fault, the ack rate it kept up, the duplicates, the
// spool states seen and the drain are logged.
func runOutage(t *testing.T, s *faultSetup, fault, heal func()) {
	p := startBridgeProc(t, s, s.spoolSets("kafka.producer.spill_after_ms=500"))
	waitKafkaReady(t, s.admin)
	w := watch(p, s.admin)
	defer w.stop()
	l := startLoad(t, s, faultkit.LoadConfig{})
	l.waitAcked(t, 5000, kafkaWait)

	before := time.Now()
	fault()
	from := time.Now()
	ackedAt := l.Acked()
	pause(outage)
	ackedDuring := l.Acked() - ackedAt
	heal()
	to := time.Now()
	t.Logf("fault applied in %v, healed %v after it", from.Sub(before).Round(time.Millisecond), to.Sub(from).Round(time.Millisecond))

	l.waitAcked(t, 2000, kafkaWait) // acks go on after the fault
	pause(5 * time.Second)
	l.stop()
	drainTook, held := waitDrained(t, s.admin)
	states, peak := w.stop()

	records := readBack(t, s.bootstrap, s.topic, l.Pubs(), kafkaWait)
	rep := checkDelivery(t, l.Load, records)
	lat := faultkit.Latencies(l.Pubs(), before, to)
	base := faultkit.Latencies(l.Pubs(), time.Time{}, before)
	rate := float64(ackedDuring) / outage.Seconds()
	t.Logf("PUBACK latency before the fault: %v", base)
	t.Logf("PUBACK latency during the fault: %v; %.0f acks/s kept up during it (target %d msg/s)", lat, rate, loadRate)
	t.Logf("duplicates in Kafka: %d; spool states seen: %v; drain after publishing stopped: %v (spool held %.0f records); bridge VmRSS peak %d MiB",
		rep.Duplicates, states, drainTook.Round(time.Millisecond), held, peak>>20)
	t.Logf("spool metrics after drain: %v", spoolSeries(s.admin))
	// The hybrid path acks from the spool while Kafka cannot take records:
	// devices must keep getting acks (not merely not lose them).
	if rate < loadRate/4 {
		t.Errorf("only %.0f acks/s during the fault; want at least %d (the spool should take over)", rate, loadRate/4)
	}
	if !contains(states, "spilling") && !contains(states, "draining") {
		t.Errorf("/readyz spool states seen %v; want spilling or draining during the fault", states)
	}
}

// TestFaultKafkaStopped: Kafka is stopped for 30 s under load and started
// again. Nothing acked is lost, per-key order holds.
func TestFaultKafkaStopped(t *testing.T) {
	skipShort(t)
	bootstrap, stop, start := testenv.StartOwnKafka(t, freePortPair(t))
	topic := uniq(t, "load")
	testenv.CreateTopic(t, bootstrap, topic, 6)
	s := newFaultSetup(t, bootstrap, topic)
	runOutage(t, s, stop, start)
}

// TestFaultKafkaHangs: a proxy between the bridge and Kafka stops
// forwarding for 30 s without closing anything (new connections are
// accepted and held silent), then resumes. The broker advertises the
// proxy, so every connection the bridge makes goes through it.
func TestFaultKafkaHangs(t *testing.T) {
	skipShort(t)
	kport := freePortPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultkit.NewProxy(ln, fmt.Sprintf("127.0.0.1:%d", kport))
	ctx, cancel := context.WithCancel(context.Background())
	proxyDone := make(chan error, 1)
	go func() { proxyDone <- proxy.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-proxyDone; err != nil {
			t.Errorf("proxy: %v", err)
		}
	})
	direct, _, _ := testenv.StartOwnKafkaAdvertised(t, kport, ln.Addr().(*net.TCPAddr).Port)
	topic := uniq(t, "load")
	testenv.CreateTopic(t, direct, topic, 6)
	s := newFaultSetup(t, proxy.Addr().String(), topic)
	runOutage(t, s, proxy.Hang, proxy.Resume)
	acc, fwd := proxy.Stats()
	t.Logf("proxy: %d connections accepted, %d MiB forwarded", acc, fwd>>20)
}
