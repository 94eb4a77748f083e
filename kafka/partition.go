package kafka

import (
	"encoding/binary"
	"hash/fnv"
)

// Partition returns the partition the Java client's default partitioner
// (and producer.partitioner=murmur2) picks for a keyed record:
// toPositive(murmur2(key)) % numPartitions. A nil key hashes like an empty
// one here; the producer sends records without a key to a random partition.
func Partition(key []byte, numPartitions int32) int32 {
	if numPartitions <= 0 {
		return 0
	}
	return int32(murmur2(key)&0x7fffffff) % numPartitions
}

// PartitionWith returns the partition the producer picks for a keyed record
// with the given kafka.producer.partitioner: PartitionerMurmur2 (Partition)
// or PartitionerFNV (sarama's hash partitioner: FNV-1a 32 of the key as a
// signed int32, modulo numPartitions, made positive; not the Java client's
// choice). An unknown name is taken as murmur2, the default.
func PartitionWith(partitioner string, key []byte, numPartitions int32) int32 {
	if partitioner != PartitionerFNV {
		return Partition(key, numPartitions)
	}
	if numPartitions <= 0 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write(key)
	p := int32(h.Sum32()) % numPartitions
	if p < 0 {
		p = -p
	}
	return p
}

// murmur2 is MurmurHash2 (32 bit) with Kafka's seed, as in
// org.apache.kafka.common.utils.Utils.murmur2.
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(data))
	for ; len(data) >= 4; data = data[4:] {
		k := binary.LittleEndian.Uint32(data)
		k *= m
		k ^= k >> r
		k *= m
		h = h*m ^ k
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
