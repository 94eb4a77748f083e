package integration

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// javaVectors are keys whose murmur2 hash the Java client itself printed
// (kafka-clients 4.1.1, org.apache.kafka.common.utils.Utils.murmur2; the
// same vectors as kafka/partition_test.go). p6 is the Java default
// partitioner's choice for 6 partitions, Utils.toPositive(hash) % 6, i.e.
// (hash & 0x7fffffff) % 6, worked out from those printed hashes.
var javaVectors = []struct {
	key  string
	hash int32
	p6   int32
}{
	{"21", -973932308, 0},
	{"foobar", -790332482, 0},
	{"a-little-bit-long-string", -985981536, 2},
	{"a-little-bit-longer-string", -1486304829, 5},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, 5},
	{"abc", 479470107, 3},
	{"device-42", -1415647139, 3},
	{"kafka", -798503068, 4},
}

// TestPartitioning proves that a keyed uplink record lands on the partition
// the Java client would choose: the Java-printed vectors above, and many
// more keys against kafka.Partition, through a real 6-partition topic.
func TestPartitioning(t *testing.T) {
	for _, v := range javaVectors {
		if p := (v.hash & 0x7fffffff) % 6; p != v.p6 {
			t.Fatalf("vector table: (%d & 0x7fffffff) %% 6 = %d; table says %d", v.hash, p, v.p6)
		}
	}
	bootstrap := sharedKafka(t)
	topic := uniq(t, "part")
	testenv.CreateTopic(t, bootstrap, topic, 6)
	cfg := testConfig(t, bootstrap)
	cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "part", MQTTTopic: "part/{device}", KafkaTopic: topic, Key: "{device}"}}
	b := startBridge(t, cfg)

	want := map[string]int32{}
	for _, v := range javaVectors {
		want[v.key] = v.p6
	}
	for i := range 60 {
		k := fmt.Sprintf("dev-%03d", i)
		want[k] = kafka.Partition([]byte(k), 6)
	}
	c := dialV3(t, b.addr, uniq(t, "pub"), true, nil)
	for k := range want {
		waitToken(t, c.Publish("part/"+k, 1, false, k), "publish "+k)
	}
	recs := testenv.Consume(t, bootstrap, topic, len(want), kafkaWait)
	used := map[int32]bool{}
	for _, r := range recs {
		k := string(r.Key)
		p, ok := want[k]
		if !ok {
			t.Fatalf("unexpected key %q", k)
		}
		if r.Partition != p {
			t.Errorf("key %q landed on partition %d; want %d (Java murmur2)", k, r.Partition, p)
		}
		used[r.Partition] = true
	}
	if len(used) != 6 {
		t.Errorf("records used %d partitions of 6; murmur2 should spread %d keys over all", len(used), len(want))
	}
}

// TestPartitioningMatchesLibrdkafka cross-checks against a second,
// independent implementation: kcat (librdkafka) with partitioner
// murmur2_random, documented as "functionally equivalent to the default
// partitioner in the Java Producer", must put each key where the bridge does.
func TestPartitioningMatchesLibrdkafka(t *testing.T) {
	kcat := requireBinary(t, "kcat")
	bootstrap := sharedKafka(t)
	viaBridge, viaKcat := uniq(t, "bridge"), uniq(t, "kcat")
	testenv.CreateTopic(t, bootstrap, viaBridge, 6)
	testenv.CreateTopic(t, bootstrap, viaKcat, 6)
	cfg := testConfig(t, bootstrap)
	cfg.Mapping.Uplink = []mapping.UplinkRule{{Name: "part", MQTTTopic: "part/{device}", KafkaTopic: viaBridge, Key: "{device}"}}
	b := startBridge(t, cfg)

	var keys []string
	for i := range 30 {
		keys = append(keys, fmt.Sprintf("sensor-%d.line-%d", i, i%4))
	}
	c := dialV3(t, b.addr, uniq(t, "pub"), true, nil)
	var in strings.Builder
	for _, k := range keys {
		waitToken(t, c.Publish("part/"+k, 1, false, "x"), "publish "+k)
		in.WriteString(k + ":x\n")
	}
	cmd := exec.Command(kcat, "-P", "-b", bootstrap, "-t", viaKcat, "-K:", "-X", "partitioner=murmur2_random")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	byKey := func(recs []*sarama.ConsumerMessage) map[string]int32 {
		m := map[string]int32{}
		for _, r := range recs {
			m[string(r.Key)] = r.Partition
		}
		return m
	}
	fromBridge := byKey(testenv.Consume(t, bootstrap, viaBridge, len(keys), kafkaWait))
	fromKcat := byKey(testenv.Consume(t, bootstrap, viaKcat, len(keys), kafkaWait))
	for _, k := range keys {
		if fromBridge[k] != fromKcat[k] {
			t.Errorf("key %q: bridge put it on partition %d, librdkafka murmur2 on %d", k, fromBridge[k], fromKcat[k])
		}
	}
}
