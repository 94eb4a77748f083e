package integration

import (
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// TestFaultQuotaFull: with Kafka down and a 4 MiB spool quota (512 KiB
// segments), 1 KiB publishes at 2,000 msg/s fill the spool in seconds.
// Then the bridge acks nothing more (the acked count stops growing while
// every client's window of unacked publishes is full), its VmRSS stays under
// rssBound (300 MiB), and nothing acked is lost; once Kafka is back the
// backlog drains and the publishers get acks again.
func TestFaultQuotaFull(t *testing.T) {
	skipShort(t)
	bootstrap, stopKafka, startKafka := testenv.StartOwnKafka(t, freePortPair(t))
	topic := uniq(t, "load")
	testenv.CreateTopic(t, bootstrap, topic, 6)
	s := newFaultSetup(t, bootstrap, topic)
	const quota = 4 << 20
	p := startBridgeProc(t, s, s.spoolSets(
		"kafka.spool.quota_bytes=4194304",
		"kafka.spool.segment_bytes=524288",
		"kafka.producer.spill_after_ms=500",
	))
	waitKafkaReady(t, s.admin)
	w := watch(p, s.admin)
	defer w.stop()
	l := startLoad(t, s, faultkit.LoadConfig{PayloadSize: 1024})
	l.waitAcked(t, 2000, kafkaWait)

	stopKafka()
	down := time.Now()
	// Full: the acked count stands still for 3 s with publishes waiting.
	var last int64 = -1
	var still time.Time
	full := poll(90*time.Second, func() bool {
		n := l.Acked()
		if n != last {
			last, still = n, time.Now()
			return false
		}
		return time.Since(still) >= 3*time.Second && l.Outstanding() > 0
	})
	if !full {
		t.Fatalf("the acked count never stood still for 3 s within 90 s of Kafka stopping (acked %d, outstanding %d, /readyz %+v)", l.Acked(), l.Outstanding(), readyz(s.admin))
	}
	t.Logf("acks stopped %v after Kafka stopped", time.Since(down).Round(time.Millisecond))
	acked0, pub0 := l.Acked(), l.Published()
	st := readyz(s.admin)
	bytes, hasBytes := scrape(s.admin, "mqtt_bridge_spool_bytes")
	pause(5 * time.Second) // observe the blocked state
	acked1, pub1 := l.Acked(), l.Published()
	t.Logf("blocked for 5 s: %d acks, %d new publishes (%d waiting for an ack), /readyz %+v, mqtt_bridge_spool_bytes %.0f (exposed %v)",
		acked1-acked0, pub1-pub0, l.Outstanding(), st, bytes, hasBytes)
	if acked1 != acked0 {
		t.Errorf("%d publishes were acked while the spool was full and Kafka down; want none", acked1-acked0)
	}
	if st.Spool != "blocked" {
		t.Errorf("/readyz spool = %q while the quota is full; want blocked", st.Spool)
	}
	if hasBytes && bytes > quota {
		t.Errorf("mqtt_bridge_spool_bytes %.0f above the quota %d", bytes, quota)
	}

	startKafka()
	l.waitAcked(t, 2000, kafkaWait) // acks again
	l.stop()
	drainTook, left := waitDrained(t, s.admin)
	states, peak := w.stop()
	t.Logf("after Kafka returned: drain %v (spool held %.0f at stop); states seen %v; bridge VmRSS peak %d MiB (bound %d MiB)",
		drainTook.Round(time.Millisecond), left, states, peak>>20, rssBound>>20)
	if peak > rssBound {
		t.Errorf("bridge VmRSS peaked at %d MiB; want under %d MiB", peak>>20, rssBound>>20)
	}
	records := readBack(t, bootstrap, topic, l.Pubs(), kafkaWait)
	checkDelivery(t, l.Load, records)
}
