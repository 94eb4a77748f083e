package integration

import (
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// TestFaultBridgeKilled: the bridge is killed with SIGKILL mid-load twice,
// once with Kafka up and once with Kafka down (so the spool holds acked
// records), and restarted each time on the same data dir; the load's
// clients reconnect and go on. Every PUBACKed message reaches Kafka, per-key
// order holds; replayed duplicates are counted.
func TestFaultBridgeKilled(t *testing.T) {
	skipShort(t)
	bootstrap, stopKafka, startKafka := testenv.StartOwnKafka(t, freePortPair(t))
	topic := uniq(t, "load")
	testenv.CreateTopic(t, bootstrap, topic, 6)
	s := newFaultSetup(t, bootstrap, topic)
	sets := s.spoolSets("kafka.producer.spill_after_ms=500")

	p := startBridgeProc(t, s, sets)
	waitKafkaReady(t, s.admin)
	l := startLoad(t, s, faultkit.LoadConfig{})
	l.waitAcked(t, 5000, kafkaWait)

	// 1. Kafka up.
	p.kill9()
	t.Logf("kill -9 #1 (Kafka up) after %d acked", l.Acked())
	p = startBridgeProc(t, s, sets)
	waitKafkaReady(t, s.admin)
	l.waitAcked(t, 5000, kafkaWait)

	// 2. Kafka down: what is acked now sits in the spool only.
	stopKafka()
	l.waitAcked(t, 4000, 60*time.Second)
	held, _ := scrape(s.admin, "mqtt_bridge_spool_records")
	st := readyz(s.admin)
	p.kill9()
	t.Logf("kill -9 #2 (Kafka down) after %d acked; spool held %.0f records, /readyz %+v", l.Acked(), held, st)
	// Restart while Kafka is still down: the spool must take publishes.
	p = startBridgeProc(t, s, sets)
	l.waitAcked(t, 2000, 60*time.Second)
	startKafka()
	l.waitAcked(t, 2000, kafkaWait)
	l.stop()
	drainTook, left := waitDrained(t, s.admin)

	records := readBack(t, bootstrap, topic, l.Pubs(), kafkaWait)
	rep := checkDelivery(t, l.Load, records)
	t.Logf("connections: %d (10 first ones, the rest reconnects); duplicates %d; drain %v (spool held %.0f at stop); spool metrics: %v",
		l.Connects(), rep.Duplicates, drainTook.Round(time.Millisecond), left, spoolSeries(s.admin))
}
