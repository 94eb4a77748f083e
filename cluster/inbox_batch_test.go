package cluster

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// TestClusterInboxPersistentRate: 2,000 QoS 1 copies for a persistent
// session, produced at once to r1's inbox, are applied (each queued
// durably with its inbox mark) and the session gets every one once, in
// order: offline, when it reconnects; online, as they come. It logs the
// rate (README.md, "Inbox batches": the copies buffered from one
// partition share store transactions).
//
//	go test -count=1 -run TestClusterInboxPersistentRate -v ./cluster/
func TestClusterInboxPersistentRate(t *testing.T) {
	const n = 2000
	rs := startReplicas(t, 2, nil, func(c *mqttfront.Config) { c.MaxQueuedMessages = n })
	_, bootstrap := testAdmin(t)
	copies := func(id, topic string) []*sarama.ProducerMessage {
		msgs := make([]*sarama.ProducerMessage, n)
		for i := range msgs {
			rec := copyRecord{Source: "r2", Targets: []string{id}, Msg: &mqttfront.Message{
				Topic: topic, Payload: []byte(strconv.Itoa(i)), QoS: 1, ClientID: "pub", ReceivedAt: time.Now()}}
			msgs[i] = &sarama.ProducerMessage{Topic: rs[0].node.cfg.inboxTopic("r1"), Key: sarama.StringEncoder("r2"), Value: sarama.ByteEncoder(rec.encode())}
		}
		return msgs
	}

	t.Run("offline", func(t *testing.T) {
		id := clientName("rate-off")
		parkOffline(t, rs, id, "rateoff/#", 1)
		msgs := copies(id, "rateoff/t")
		before := rs[0].router.Stats().Received
		start := time.Now()
		if err := produceAll(bootstrap, msgs); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Minute, "r1 to apply the copies", func() bool { return rs[0].router.Stats().Received-before >= n })
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
	})

	t.Run("online", func(t *testing.T) {
		// subs sessions, each the target of every subs-th copy (as the
		// bench's K1: many online persistent subscribers at one replica).
		const subs = 20
		cs := make([]*client, subs)
		var msgs []*sarama.ProducerMessage
		for k := range cs {
			id := clientName("rate-on" + strconv.Itoa(k))
			cs[k] = connectClient(t, rs[0].addr, id, "", true)
			cs[k].subscribe(t, "rateon/"+strconv.Itoa(k), 1)
		}
		for k, c := range cs {
			waitRoute(t, rs, c.ClientID(), "rateon/"+strconv.Itoa(k), "r1")
		}
		all := make([][]*sarama.ProducerMessage, subs)
		for k := range cs {
			all[k] = copies(cs[k].ClientID(), "rateon/"+strconv.Itoa(k))[:n/subs]
		}
		for i := range n / subs {
			for k := range all {
				msgs = append(msgs, all[k][i])
			}
		}
		start := time.Now()
		if err := produceAll(bootstrap, msgs); err != nil {
			t.Fatal(err)
		}
		got := make([][]string, subs)
		for k, c := range cs {
			got[k] = payloads(c.receive(t, n/subs)) // each client buffers more than n/subs
		}
		el := time.Since(start)
		t.Logf("%d copies for %d persistent online sessions delivered in %v: %.0f msg/s (from the produce's start)", n, subs, el.Round(time.Millisecond), n/el.Seconds())
		for k, c := range cs {
			if !slices.Equal(got[k], seqPayloads(0, n/subs)) {
				t.Fatalf("session %d got %v; want 0..%d in order", k, got[k], n/subs-1)
			}
			c.expectNone(t, 50*time.Millisecond)
		}
	})
}

// produceAll writes msgs to partition 0 of their topics in one request
// and returns once Kafka acked them.
func produceAll(bootstrap string, msgs []*sarama.ProducerMessage) error {
	sc := saramaTestConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{bootstrap}, sc)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		return fmt.Errorf("produce %d records: %w", len(msgs), err)
	}
	return nil
}
