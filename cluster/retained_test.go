package cluster

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

func TestRetainedRecordBytes(t *testing.T) {
	cases := []struct {
		name string
		m    mqttfront.Message
		want []byte
	}{
		{"v3 publish", mqttfront.Message{QoS: 1, Payload: []byte("on"), ReceivedAt: time.UnixMilli(1)}, []byte{
			1, 4, // format 1, kind retained
			1,        // qos 1
			0x00,     // flags: no payload format, no expiry
			0,        // content type ""
			0,        // response topic ""
			0,        // correlation data ""
			0,        // no user properties
			2,        // received at: 1 ms (zigzag varint)
			'o', 'n', // payload (the rest)
		}},
		{"v5 properties", mqttfront.Message{QoS: 2, Payload: []byte{0}, Properties: mqttfront.Properties{
			PayloadFormat: 1, PayloadFormatSet: true, MessageExpiry: 300, MessageExpirySet: true,
			ContentType: "t", ResponseTopic: "r", CorrelationData: []byte{9},
			User: []mqttfront.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}}}, []byte{
			1, 4, // format 1, kind retained
			2,          // qos 2
			0x03,       // flags: payload format, expiry
			1,          // payload format: UTF-8
			0xac, 0x02, // expiry 300 s (uvarint)
			1, 't', // content type
			1, 'r', // response topic
			1, 9, // correlation data
			2,              // two user properties, order kept
			1, 'k', 1, 'v', // k=v
			1, 'k', 1, 'w', // k=w
			0, // received at: none
			0, // payload
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := encodeRetained(&tc.m)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("encodeRetained = % x; want % x", got, tc.want)
			}
			back, err := decodeRetained("a/b", tc.want)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.m
			want.Topic, want.Retain = "a/b", true
			if !reflect.DeepEqual(*back, want) {
				t.Fatalf("decodeRetained = %+v; want %+v", *back, want)
			}
		})
	}
}

func TestRetainedRecordRefuses(t *testing.T) {
	good := encodeRetained(&mqttfront.Message{QoS: 1, Payload: []byte("x")})
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty value (a clear is a tombstone)", []byte{}},
		{"newer format", append([]byte{2}, good[1:]...)},
		{"a claim", claimRecord{Owner: "r"}.encode()},
		{"qos 3", append([]byte{1, 4, 3}, good[3:]...)},
		{"unknown flag", append([]byte{1, 4, 1, 0x80}, good[4:]...)},
		{"truncated before the payload", good[:6]},
		{"user property count beyond the record", []byte{1, 4, 1, 0, 0, 0, 0, 0xff, 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeRetained("t", tc.b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeRetained(% x) = %v; want ErrCorrupt", tc.b, err)
			}
		})
	}
}

// trieTarget is a RetainedTarget keeping the last message per topic.
type trieTarget struct {
	mu     sync.Mutex
	m      map[string]string
	resets int
}

func newTrieTarget() *trieTarget { return &trieTarget{m: map[string]string{}} }

func (tt *trieTarget) ApplyRetained(topic string, m *mqttfront.Message) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if m == nil {
		delete(tt.m, topic)
		return
	}
	tt.m[topic] = string(m.Payload)
}

func (tt *trieTarget) ResetRetained() {
	tt.mu.Lock()
	tt.m = map[string]string{}
	tt.resets++
	tt.mu.Unlock()
}

func (tt *trieTarget) len() int {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return len(tt.m)
}

func (tt *trieTarget) get(topic string) (string, bool) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	v, ok := tt.m[topic]
	return v, ok
}

// retainedNode is a node with a trie target, run until stop.
type retainedNode struct {
	*Node
	target *trieTarget
	stop   func()
}

func startRetainedNode(t testing.TB, cfg Config, bootstrap, dir string) *retainedNode {
	t.Helper()
	n, err := New(cfg, []string{bootstrap}, saramaTestConfig(), dir, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	rn := &retainedNode{Node: n, target: newTrieTarget()}
	n.Retained().Attach(rn.target)
	if err := n.Admit(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Admit before Run = %v; want ErrNotReady", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	rn.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("node %s Run: %v", n.ID(), err)
			}
		})
	}
	t.Cleanup(rn.stop)
	select {
	case <-n.Ready():
	case <-time.After(defaultWait):
		t.Fatalf("node %s not ready after %v", n.ID(), defaultWait)
	}
	if err := n.Admit(); err != nil {
		t.Fatalf("Admit once ready = %v; want nil", err)
	}
	return rn
}

// setRetained calls SetRetained and waits for its completion.
func setRetained(t *testing.T, n *Node, topic, payload string) {
	t.Helper()
	ch := make(chan error, 1)
	n.Retained().SetRetained(&mqttfront.Message{Topic: topic, Payload: []byte(payload), QoS: 1}, func(err error) { ch <- err })
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("SetRetained(%s, %q): %v", topic, payload, err)
		}
	case <-time.After(defaultWait):
		t.Fatalf("SetRetained(%s): no completion after %v", topic, defaultWait)
	}
}

// TestRetainedAcrossReplicas: a retained message set at r1 reaches r2's
// trie through the log, a clear at r2 is a real tombstone and reaches r1,
// and a warm restart of r2 restores its cache and reads only the delta.
func TestRetainedAcrossReplicas(t *testing.T) {
	_, bootstrap := testAdmin(t)
	base := testConfig(t, "")
	cfg1, cfg2 := base, base
	cfg1.ReplicaID, cfg2.ReplicaID = "r1", "r2"
	dir2 := t.TempDir()
	r1 := startRetainedNode(t, cfg1, bootstrap, t.TempDir())
	r2 := startRetainedNode(t, cfg2, bootstrap, dir2)

	setRetained(t, r1.Node, "dev/1/state", "on")
	setRetained(t, r1.Node, "dev/2/state", "off")
	for _, n := range []*retainedNode{r1, r2} {
		waitFor(t, defaultWait, n.ID()+" to apply dev/1/state", func() bool { v, _ := n.target.get("dev/1/state"); return v == "on" })
	}
	setRetained(t, r2.Node, "dev/1/state", "") // clear
	for _, n := range []*retainedNode{r1, r2} {
		waitFor(t, defaultWait, n.ID()+" to apply the clear", func() bool { _, ok := n.target.get("dev/1/state"); return !ok })
	}
	// The clear is a tombstone (nil value), not an empty value.
	client := testClient(t, bootstrap)
	p := kafka.Partition([]byte("dev/1/state"), int32(base.Partitions))
	last := readLast(t, client, base.retainedTopic(), p, "dev/1/state")
	if last.Value != nil {
		t.Fatalf("the clear's record value = % x; want nil (a tombstone)", last.Value)
	}

	r2.stop()
	setRetained(t, r1.Node, "dev/3/state", "delta")
	r2b := startRetainedNode(t, cfg2, bootstrap, dir2)
	if v, _ := r2b.target.get("dev/2/state"); v != "off" {
		t.Fatalf("after a warm restart r2 has dev/2/state %q; want off (from its cache)", v)
	}
	if v, _ := r2b.target.get("dev/3/state"); v != "delta" {
		t.Fatalf("after a warm restart r2 has dev/3/state %q; want delta (read from the log)", v)
	}
	if _, ok := r2b.target.get("dev/1/state"); ok {
		t.Fatal("the cleared dev/1/state came back after a warm restart")
	}
	st := r2b.Stats()
	var retained TableStats
	for _, ts := range st.Tables {
		if ts.Name == "retained" {
			retained = ts
		}
	}
	if retained.Records != 1 || retained.Behind != 0 {
		t.Fatalf("warm restart: retained table applied %d records, %d behind; want 1 (the delta), 0", retained.Records, retained.Behind)
	}
	if st.Retained.Sets != 2 || st.State != StateReady {
		t.Fatalf("warm restart stats %+v; want 2 sets (1 restored + 1 read) and state ready", st)
	}
}

// TestSetRetainedNotRunning: before Run and after it, SetRetained fails at
// once (the device is not acked; it resends).
func TestSetRetainedNotRunning(t *testing.T) {
	n, err := New(testConfig(t, "idle"), []string{"127.0.0.1:1"}, saramaTestConfig(), t.TempDir(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var got error
	n.Retained().SetRetained(&mqttfront.Message{Topic: "a", Payload: []byte("x")}, func(err error) { got = err })
	if !errors.Is(got, ErrNotRunning) || !errors.Is(got, mqttfront.ErrUnavailable) {
		t.Fatalf("SetRetained before Run: %v; want ErrNotRunning (ErrUnavailable)", got)
	}
}

// readLast returns the last record of key in topic/partition.
func readLast(t *testing.T, client sarama.Client, topic string, partition int32, key string) *sarama.ConsumerMessage {
	t.Helper()
	hwm, err := client.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var last *sarama.ConsumerMessage
	for {
		select {
		case m := <-pc.Messages():
			if string(m.Key) == key {
				last = m
			}
			if m.Offset+1 >= hwm {
				if last == nil {
					t.Fatalf("no record of %s in %s/%d", key, topic, partition)
				}
				return last
			}
		case <-time.After(defaultWait):
			t.Fatalf("reading %s/%d: timed out", topic, partition)
		}
	}
}
