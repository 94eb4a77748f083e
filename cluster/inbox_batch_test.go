package cluster

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestClusterInboxPersistentRate: 2,000 QoS 1 copies for a persistent
// offline session, already in r1's inbox, are applied (each queued durably
// with its inbox mark) and the session gets every one once, in order, when
// it reconnects. It logs the apply rate (README.md, "Routing": the copies
// buffered from one partition share store transactions).
//
//	go test -race -count=1 -run TestClusterInboxPersistentRate -v ./cluster/
func TestClusterInboxPersistentRate(t *testing.T) {
	const n = 2000
	rs := startReplicas(t, 2, nil, func(c *mqttfront.Config) { c.MaxQueuedMessages = n })
	id := clientName("rate")
	d := connectClient(t, rs[0].addr, id, "", true)
	d.subscribe(t, "rate/#", 1)
	d.close()
	waitOffline(t, rs, id)

	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		rec := copyRecord{Source: "r2", Targets: []string{id}, Msg: &mqttfront.Message{
			Topic: "rate/t", Payload: []byte(strconv.Itoa(i)), QoS: 1, ClientID: "pub", ReceivedAt: time.Now()}}
		msgs[i] = &sarama.ProducerMessage{Topic: rs[0].node.cfg.inboxTopic("r1"), Key: sarama.StringEncoder("r2"), Value: sarama.ByteEncoder(rec.encode())}
	}
	start := time.Now()
	produceAll(t, msgs)
	waitFor(t, 2*time.Minute, "r1 to apply the copies", func() bool { return rs[0].router.Stats().Received >= n })
	el := time.Since(start)
	t.Logf("%d copies for a persistent offline session applied in %v: %.0f msg/s (from the produce's start)", n, el.Round(time.Millisecond), n/el.Seconds())

	back := connectClient(t, rs[0].addr, id, "", false)
	if !back.connack.SessionPresent {
		t.Fatalf("reconnect at r1: Session Present 0; want 1")
	}
	if got := payloads(back.receive(t, n)); !slices.Equal(got, seqPayloads(0, n)) {
		t.Fatalf("queued at r1: %d messages, first %v; want 0..%d in order", len(got), got[:min(len(got), 5)], n-1)
	}
	back.expectNone(t, 300*time.Millisecond)
}

// produceAll writes msgs to partition 0 of their topics in one request
// and returns once Kafka acked them.
func produceAll(t *testing.T, msgs []*sarama.ProducerMessage) {
	t.Helper()
	_, bootstrap := testAdmin(t)
	sc := saramaTestConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Flush.MaxMessages = 0
	p, err := sarama.NewSyncProducer([]string{bootstrap}, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("produce %d records: %v", len(msgs), err)
	}
}
