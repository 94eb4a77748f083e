package integration

import (
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// TestFaultCleanShutdown: SIGTERM under load while Kafka is down; the
// bridge exits 0 within 15 s with the acked records in its spool. Started
// again with Kafka up on the same data dir, it drains the spool, and
// nothing acked is lost.
func TestFaultCleanShutdown(t *testing.T) {
	skipShort(t)
	bootstrap, stopKafka, startKafka := testenv.StartOwnKafka(t, freePortPair(t))
	topic := uniq(t, "load")
	testenv.CreateTopic(t, bootstrap, topic, 6)
	s := newFaultSetup(t, bootstrap, topic)
	sets := s.spoolSets("kafka.producer.spill_after_ms=500")

	p := startBridgeProc(t, s, sets)
	waitKafkaReady(t, s.admin)
	l := startLoad(t, s, faultkit.LoadConfig{})
	l.waitAcked(t, 2000, kafkaWait)
	stopKafka()
	l.waitAcked(t, 5000, 60*time.Second)
	held, _ := scrape(s.admin, "mqtt_bridge_spool_records")

	code, took := p.term(shutdownBound)
	t.Logf("SIGTERM with Kafka down: exit %d after %v; spool held %.0f records; %d acked so far", code, took.Round(time.Millisecond), held, l.Acked())
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM; want 0", code)
	}

	startKafka()
	p = startBridgeProc(t, s, sets)
	waitKafkaReady(t, s.admin)
	l.waitAcked(t, 2000, kafkaWait) // the clients reconnected
	l.stop()
	drainTook, left := waitDrained(t, s.admin)

	records := readBack(t, bootstrap, topic, l.Pubs(), kafkaWait)
	rep := checkDelivery(t, l.Load, records)
	t.Logf("duplicates %d; drain %v (spool held %.0f at stop); spool metrics: %v", rep.Duplicates, drainTook.Round(time.Millisecond), left, spoolSeries(s.admin))
}
