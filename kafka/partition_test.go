package kafka

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
)

// Vectors printed by the Java client itself (kafka-clients 4.1.1,
// org.apache.kafka.common.utils.Utils.murmur2 and toPositive(h) % n).
var murmur2Vectors = []struct {
	key          []byte
	hash         int32
	p3, p7, p100 int32
}{
	{[]byte("21"), -973932308, 0, 3, 40},
	{[]byte("foobar"), -790332482, 0, 0, 66},
	{[]byte("a-little-bit-long-string"), -985981536, 2, 1, 12},
	{[]byte("a-little-bit-longer-string"), -1486304829, 2, 0, 19},
	{[]byte("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971, 2, 3, 77},
	{[]byte("abc"), 479470107, 0, 4, 7},
	{[]byte(""), 275646681, 0, 2, 81},
	{[]byte("device-42"), -1415647139, 0, 5, 9},
	{[]byte("kafka"), -798503068, 1, 3, 80},
	{[]byte{0xff, 0x00, 0x80, 0x7f, 0x01}, -315781896, 2, -1, -1}, // only p3 printed
}

func TestMurmur2JavaVectors(t *testing.T) {
	for _, v := range murmur2Vectors {
		if got := int32(murmur2(v.key)); got != v.hash {
			t.Errorf("murmur2(%q) = %d; want %d", v.key, got, v.hash)
		}
		if got := Partition(v.key, 3); got != v.p3 {
			t.Errorf("Partition(%q, 3) = %d; want %d", v.key, got, v.p3)
		}
		if got := Partition(v.key, 7); v.p7 >= 0 && got != v.p7 {
			t.Errorf("Partition(%q, 7) = %d; want %d", v.key, got, v.p7)
		}
		if got := Partition(v.key, 100); v.p100 >= 0 && got != v.p100 {
			t.Errorf("Partition(%q, 100) = %d; want %d", v.key, got, v.p100)
		}
	}
}

// The producer uses sarama's murmur2 partitioner; it must agree with ours.
func TestPartitionAgreesWithSarama(t *testing.T) {
	sp := sarama.NewMurmur2Partitioner("t")
	for i := range 2000 {
		key := []byte(fmt.Sprintf("client-%d", i))
		for _, n := range []int32{1, 3, 12, 64} {
			want, err := sp.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(key)}, n)
			if err != nil {
				t.Fatal(err)
			}
			if got := Partition(key, n); got != want {
				t.Fatalf("Partition(%q, %d) = %d; sarama says %d", key, n, got, want)
			}
		}
	}
}

// PartitionWith follows the producer's partitioner setting: murmur2 as
// Partition, fnv as sarama's hash partitioner.
func TestPartitionWithAgreesWithSarama(t *testing.T) {
	for name, sp := range map[string]sarama.Partitioner{
		PartitionerMurmur2: sarama.NewMurmur2Partitioner("t"),
		PartitionerFNV:     sarama.NewHashPartitioner("t"),
	} {
		for i := range 2000 {
			key := []byte(fmt.Sprintf("client-%d", i))
			for _, n := range []int32{1, 3, 12, 64} {
				want, err := sp.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(key)}, n)
				if err != nil {
					t.Fatal(err)
				}
				if got := PartitionWith(name, key, n); got != want {
					t.Fatalf("PartitionWith(%s, %q, %d) = %d; sarama says %d", name, key, n, got, want)
				}
			}
		}
	}
}

func TestPartitionNoPartitions(t *testing.T) {
	if got := Partition([]byte("x"), 0); got != 0 {
		t.Errorf("Partition(x, 0) = %d; want 0", got)
	}
}

func BenchmarkPartition(b *testing.B) {
	key := []byte("factory-7/line-3/device-00042")
	b.ReportAllocs()
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		_ = Partition(key, 12)
	}
}
