package faultkit

import (
	"fmt"
	"sort"
	"strings"
)

// Record is one record read back from Kafka: its key, partition, offset
// and value.
type Record struct {
	Key       string
	Partition int32
	Offset    int64
	Value     []byte
}

// Report is what Check found.
type Report struct {
	Records    int           // records read
	Acked      int           // distinct acked (key, seq) pairs expected
	Missing    []Pub         // acked but not in Kafka
	Duplicates int           // records whose (key, seq) was already seen
	Unacked    int           // distinct (key, seq) in Kafka whose publish was not acked (allowed)
	Reordered  []string      // per key: a first occurrence below an earlier one
	Corrupt    []Record      // values that are not exactly a Payload, or whose key disagrees
	Foreign    int           // records of keys the load never published (ignored)
	Keys       int           // keys seen
	Partitions map[int32]int // records per partition
}

// OK reports whether nothing acked is missing, order held and nothing was
// corrupt.
func (r Report) OK() bool {
	return len(r.Missing) == 0 && len(r.Reordered) == 0 && len(r.Corrupt) == 0
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d records in %d partitions, %d keys; %d acked publishes, %d missing, %d duplicates, %d unacked-but-present, %d reordered keys, %d corrupt",
		r.Records, len(r.Partitions), r.Keys, r.Acked, len(r.Missing), r.Duplicates, r.Unacked, len(r.Reordered), len(r.Corrupt))
	for i, p := range r.Missing {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... %d more missing", len(r.Missing)-i)
			break
		}
		fmt.Fprintf(&b, "\n  missing %s seq %d (sent %s)", p.Key, p.Seq, p.Sent.Format("15:04:05.000"))
	}
	for i, s := range r.Reordered {
		if i == 10 {
			break
		}
		fmt.Fprintf(&b, "\n  reordered: %s", s)
	}
	for i, c := range r.Corrupt {
		if i == 5 {
			break
		}
		fmt.Fprintf(&b, "\n  corrupt: key %q partition %d offset %d value %.60q", c.Key, c.Partition, c.Offset, c.Value)
	}
	return b.String()
}

type keySeq struct {
	key string
	seq int
}

// Check compares what Kafka holds (records in offset order within each
// partition) with what the load published. Every acked publish must be
// there at least once, byte-exact; duplicates are counted. Per key, the
// first occurrences of the sequence numbers must increase: a record may
// repeat one already seen (at-least-once), but a new one must never come
// after a later one. Records of keys the load never used are ignored.
func Check(pubs []Pub, records []Record) Report {
	r := Report{Records: len(records), Partitions: map[int32]int{}}
	known := map[string]bool{}
	acked := map[keySeq]Pub{}
	for _, p := range pubs {
		known[p.Key] = true
		if p.Acked {
			acked[keySeq{p.Key, p.Seq}] = p
		}
	}
	r.Acked = len(acked)
	seen := map[keySeq]bool{}
	last := map[string]int{} // highest first-occurrence seq per key
	keys := map[string]bool{}
	for _, rec := range records {
		r.Partitions[rec.Partition]++
		key, seq, ok := ParsePayload(rec.Value)
		if !known[rec.Key] && !known[key] {
			r.Foreign++
			continue
		}
		if !ok || key != rec.Key {
			r.Corrupt = append(r.Corrupt, rec)
			continue
		}
		keys[key] = true
		ks := keySeq{key, seq}
		if seen[ks] {
			r.Duplicates++
			continue
		}
		seen[ks] = true
		if _, ok := acked[ks]; !ok {
			r.Unacked++
		}
		if seq < last[key] {
			r.Reordered = append(r.Reordered, fmt.Sprintf("%s: seq %d first seen at %d/%d after seq %d", key, seq, rec.Partition, rec.Offset, last[key]))
		} else {
			last[key] = seq
		}
	}
	r.Keys = len(keys)
	for ks, p := range acked {
		if !seen[ks] {
			r.Missing = append(r.Missing, p)
		}
	}
	sort.Slice(r.Missing, func(i, j int) bool {
		if r.Missing[i].Key != r.Missing[j].Key {
			return r.Missing[i].Key < r.Missing[j].Key
		}
		return r.Missing[i].Seq < r.Missing[j].Seq
	})
	return r
}

// Presence tracks which acked publishes have been read back; feed it
// records as they arrive and poll Left (cheaper than Check on every record).
type Presence struct {
	want map[keySeq]bool
	left int
}

// NewPresence expects every acked publish of pubs.
func NewPresence(pubs []Pub) *Presence {
	p := &Presence{want: map[keySeq]bool{}}
	for _, pub := range pubs {
		ks := keySeq{pub.Key, pub.Seq}
		if pub.Acked && !p.want[ks] {
			p.want[ks] = true
			p.left++
		}
	}
	return p
}

// See marks the publish whose payload value is, if expected.
func (p *Presence) See(value []byte) {
	key, seq, ok := ParsePayload(value)
	if !ok {
		return
	}
	ks := keySeq{key, seq}
	if p.want[ks] {
		p.want[ks] = false
		p.left--
	}
}

// Left is the number of expected publishes not seen yet.
func (p *Presence) Left() int { return p.left }
