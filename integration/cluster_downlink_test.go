package integration

// Issue 12, proof item 2, with processes: a downlink command for a device
// on r3, consumed by whichever of r1 and r2 holds the command topic's
// partition, reaches the device; the consuming replica is killed (a
// failpoint: SIGKILL after consuming a record, before delivering it) and
// the commands are still delivered, after the group's rebalance and after
// the restart.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/clusterkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// commandProducer produces commands (faultkit payloads, key = the device)
// to a topic at a rate, one at a time with acks=all, recording each as a
// clusterkit.Sent (Acked: Kafka acknowledged it).
type commandProducer struct {
	name  string
	mu    sync.Mutex
	sent  []clusterkit.Sent
	count int
}

func (p *commandProducer) run(ctx context.Context, prod sarama.SyncProducer, topic, key string, rate int) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		s := clusterkit.Sent{Pub: p.name, Seq: seq, QoS: 1, Sent: time.Now()}
		_, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key),
			Value: sarama.ByteEncoder(faultkit.Payload(p.name, seq, 64))})
		s.Done, s.Acked = time.Now(), err == nil
		p.mu.Lock()
		p.sent = append(p.sent, s)
		p.mu.Unlock()
	}
}

func (p *commandProducer) Sent() []clusterkit.Sent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]clusterkit.Sent(nil), p.sent...)
}

func TestClusterDownlinkConsumerKilled(t *testing.T) {
	bootstrap := sharedKafka(t)
	cmdTopic := uniq(t, "commands")
	testenv.CreateTopic(t, bootstrap, cmdTopic, 1)
	group := uniq(t, "group")
	armed := filepath.Join(t.TempDir(), "failpoint-armed")
	// r1 and r2 consume the command topic in one group, each with the
	// failpoint (armed once, by the file); r3 has no downlink rule.
	c := startCluster(t, 3, func(id string) clusterOpts {
		if id == "r3" {
			return clusterOpts{}
		}
		return clusterOpts{
			mapping: fmt.Sprintf("  downlink:\n    - name: commands\n      kafka_topics: [%q]\n      mqtt_topic: \"cmd/{key}\"\n      qos: 1\n", cmdTopic),
			sets: []string{"kafka.consumer.group_id=" + group, "kafka.consumer.auto_offset_reset=earliest",
				"kafka.consumer.session_timeout_ms=6000", "kafka.consumer.heartbeat_interval_ms=1000"},
			env: []string{bridge.FailpointEnv + "=" + bridge.FailpointDownlinkBeforeDeliver, bridge.FailpointOnceEnv + "=" + armed},
		}
	})
	r1, r2, r3 := c.rs[0], c.rs[1], c.rs[2]

	device := uniq(t, "dev")
	sub := clusterkit.NewSubscriber(clusterkit.SubscriberConfig{ClientID: device, Addr: at(r3.setup.mqtt), Version: 5,
		Filter: "cmd/" + device, QoS: 1, Persistent: true})
	if _, err := sub.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	runBackground(t, sub.Run)

	src := &commandProducer{name: uniq(t, "cmdsrc")}
	prod := syncProducer(t, bootstrap)
	producing := runBackground(t, func(ctx context.Context) { src.run(ctx, prod, cmdTopic, device, 20) })
	waitFor(t, kafkaWait, "the first 40 commands at the device on r3", func() bool { return len(sub.Receipts()) >= 40 })
	consumedBy := map[string]float64{}
	for _, r := range []*clusterReplica{r1, r2} {
		consumedBy[r.id], _ = scrape(r.setup.admin, `mqtt_bridge_downlink_records_total{rule="commands"}`)
	}
	t.Logf("commands consumed so far: %v", consumedBy)

	// Arm the failpoint: the replica that consumes the next record kills
	// itself before delivering it.
	if err := os.WriteFile(armed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var killed *clusterReplica
	waitFor(t, mqttWait, "the consuming replica to hit the failpoint", func() bool {
		for _, r := range []*clusterReplica{r1, r2} {
			if !r.up() {
				killed = r
				return true
			}
		}
		return false
	})
	killedAt := time.Now()
	ws, _ := killed.proc.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s exited with %v; want killed by SIGKILL at the failpoint", killed.id, killed.proc.cmd.ProcessState)
	}
	other := r1
	if killed == r1 {
		other = r2
	}
	t.Logf("%s hit %s and was killed; %s is the other consumer", killed.id, bridge.FailpointDownlinkBeforeDeliver, other.id)

	// The rebalance: the other replica gets the partition, from the last
	// committed offset, and delivers what the killed one had consumed.
	delivered := len(sub.Receipts())
	waitFor(t, kafkaWait, "commands delivered again after the rebalance, with "+killed.id+" still down", func() bool {
		return len(sub.Receipts()) >= delivered+40
	})
	rebalanced := time.Since(killedAt)

	// The restart: the killed replica comes back on its data dir (the
	// failpoint is disarmed: its file is gone).
	killed.start(t)
	restartedAt := time.Now()
	pause(5 * time.Second)
	producing.stop()
	sent := src.Sent()
	waitDelivered(t, sub, sent, kafkaWait)

	rep := clusterkit.Check(sent, sub.Receipts())
	t.Logf("downlink: %s; delivery resumed %v after the kill (group session timeout 6 s)", rep, rebalanced.Round(100*time.Millisecond))
	// At least once: none lost, order per source; the records the killed
	// replica had consumed but not committed are delivered again by the
	// new consumer (duplicates, counted), only those before the kill.
	if len(rep.Lost) != 0 || len(rep.Reordered) != 0 || rep.Corrupt != 0 {
		t.Errorf("downlink invariants broken: %s", rep)
	}
	after := clusterkit.Check(clusterkit.Select(sent, func(s clusterkit.Sent) bool { return s.Sent.After(restartedAt) }), sub.Receipts())
	if after.Duplicates != 0 {
		t.Errorf("commands produced after the restart were delivered twice: %s", after)
	}
	if ci := sub.Connections(); len(ci) != 1 {
		t.Errorf("the device on r3 reconnected (%d connections); want its one connection throughout", len(ci))
	}
	for _, r := range []*clusterReplica{r1, r2} {
		n, _ := scrape(r.setup.admin, `mqtt_bridge_downlink_records_total{rule="commands"}`)
		t.Logf("%s consumed %v commands since its (re)start", r.id, n)
	}
	if owners := c.checkOneOwner(true, device); owners[device] != "r3" {
		t.Errorf("the device's session is owned by %q; want r3", owners[device])
	}
	c.logRouting()
}
