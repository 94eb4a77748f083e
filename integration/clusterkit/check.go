package clusterkit

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
)

// Sent is the outcome of one publish.
type Sent struct {
	Pub   string // the publisher's key (in the payload)
	Seq   int    // 1, 2, ... per publisher
	QoS   byte
	Sent  time.Time // when the PUBLISH was handed to the client
	Done  time.Time // when its ack came (QoS 0: when written); zero if never
	Acked bool      // QoS 1/2: PUBACK/PUBCOMP with success; QoS 0: written
}

// Receipt is one message a subscriber got, parsed.
type Receipt struct {
	Pub     string // the publisher's key; "" when the payload is not one of Payload's
	Seq     int
	QoS     byte // as delivered
	Dup     bool // the DUP flag
	At      time.Time
	Conn    int    // which connection of the subscriber (0, 1, ...)
	Corrupt []byte // the payload, when it is not exactly a Payload
}

// Report is what Check found for one subscriber that should get every
// message of the given publishes.
type Report struct {
	Sent      int    // publishes
	Acked     int    // acknowledged ones: each must be delivered
	Delivered int    // distinct (publisher, seq) delivered, acked or not
	Receipts  int    // messages received, redeliveries included
	Lost      []Sent // acked, never delivered: the promise broken
	// Duplicates: a (publisher, seq) received again without the DUP
	// flag (a DUP redelivery of a message not acknowledged in time is
	// MQTT's at-least-once and counted in DupRedeliveries).
	Duplicates      int
	DupRedeliveries int
	Unacked         int      // delivered, never acknowledged to its publisher (allowed)
	Reordered       []string // per publisher: a first delivery below an earlier one
	Corrupt         int      // payloads that are not exactly a Payload
	Foreign         int      // messages of publishers not in the publishes (ignored)
	Latency         LatencyStats
}

// OK reports whether nothing acked was lost, nothing was delivered twice
// beyond DUP redelivery, order held per publisher and nothing was corrupt.
func (r Report) OK() bool {
	return len(r.Lost) == 0 && r.Duplicates == 0 && len(r.Reordered) == 0 && r.Corrupt == 0
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d, acked %d, delivered %d (%d receipts), lost %d, duplicates %d (+%d DUP redeliveries), unacked-but-delivered %d, reordered %d, corrupt %d, foreign %d; latency %s",
		r.Sent, r.Acked, r.Delivered, r.Receipts, len(r.Lost), r.Duplicates, r.DupRedeliveries, r.Unacked, len(r.Reordered), r.Corrupt, r.Foreign, r.Latency)
	for i, s := range r.Lost {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... %d more lost", len(r.Lost)-i)
			break
		}
		fmt.Fprintf(&b, "\n  lost %s #%d (QoS %d, sent %s)", s.Pub, s.Seq, s.QoS, s.Sent.Format("15:04:05.000"))
	}
	for i, s := range r.Reordered {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... %d more reordered", len(r.Reordered)-i)
			break
		}
		fmt.Fprintf(&b, "\n  reordered: %s", s)
	}
	return b.String()
}

type pubSeq struct {
	pub string
	seq int
}

// Check compares the publishes (of any number of publishers) with what one
// subscriber received, in the order received. Every acked publish must be
// delivered; a repeat is a duplicate unless it carries DUP; per
// publisher, the first deliveries of the sequence numbers must increase
// (a replay may repeat one already seen, never deliver a new one after a
// later one). Latency is from Sent to the first delivery.
func Check(sent []Sent, got []Receipt) Report {
	r := Report{Sent: len(sent), Receipts: len(got)}
	bySeq := map[pubSeq]Sent{}
	for _, s := range sent {
		bySeq[pubSeq{s.Pub, s.Seq}] = s
		if s.Acked {
			r.Acked++
		}
	}
	first := map[pubSeq]bool{}
	last := map[string]int{}
	var lat []time.Duration
	for _, g := range got {
		if g.Corrupt != nil {
			r.Corrupt++
			continue
		}
		k := pubSeq{g.Pub, g.Seq}
		s, known := bySeq[k]
		if !known {
			r.Foreign++
			continue
		}
		if first[k] {
			if g.Dup {
				r.DupRedeliveries++
			} else {
				r.Duplicates++
			}
			continue
		}
		first[k] = true
		r.Delivered++
		if !s.Acked {
			r.Unacked++
		}
		lat = append(lat, g.At.Sub(s.Sent))
		if g.Seq < last[g.Pub] {
			r.Reordered = append(r.Reordered, fmt.Sprintf("%s #%d delivered at %s after #%d (connection %d)",
				g.Pub, g.Seq, g.At.Format("15:04:05.000"), last[g.Pub], g.Conn))
		} else {
			last[g.Pub] = g.Seq
		}
	}
	for _, s := range sent {
		if s.Acked && !first[pubSeq{s.Pub, s.Seq}] {
			r.Lost = append(r.Lost, s)
		}
	}
	sort.Slice(r.Lost, func(i, j int) bool {
		if r.Lost[i].Pub != r.Lost[j].Pub {
			return r.Lost[i].Pub < r.Lost[j].Pub
		}
		return r.Lost[i].Seq < r.Lost[j].Seq
	})
	r.Latency = latencies(lat)
	return r
}

// ParseReceipt turns a received message into a Receipt (Corrupt set when
// its payload is not exactly a faultkit.Payload).
func ParseReceipt(m Message, conn int) Receipt {
	key, seq, ok := faultkit.ParsePayload(m.Payload)
	g := Receipt{Pub: key, Seq: seq, QoS: m.QoS, Dup: m.Dup, At: m.At, Conn: conn}
	if !ok {
		g.Pub, g.Seq = "", 0
		g.Corrupt = append([]byte{}, m.Payload...)
		if g.Corrupt == nil {
			g.Corrupt = []byte{}
		}
	}
	return g
}

// LatencyStats summarises latencies.
type LatencyStats struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func (s LatencyStats) String() string {
	if s.N == 0 {
		return "n=0"
	}
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v max=%v", s.N, r(s.P50), r(s.P90), r(s.P99), r(s.Max))
}

func latencies(ds []time.Duration) LatencyStats {
	if len(ds) == 0 {
		return LatencyStats{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(f float64) time.Duration { return ds[int(f*float64(len(ds)-1))] }
	return LatencyStats{N: len(ds), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: ds[len(ds)-1]}
}

// AckLatency summarises Done-Sent of the acked publishes (PUBACK or
// PUBCOMP round trips; QoS 0: the write).
func AckLatency(sent []Sent) LatencyStats {
	var ds []time.Duration
	for _, s := range sent {
		if s.Acked {
			ds = append(ds, s.Done.Sub(s.Sent))
		}
	}
	return latencies(ds)
}

// Select returns the publishes for which keep is true (one QoS, a time
// window).
func Select(sent []Sent, keep func(Sent) bool) []Sent {
	var out []Sent
	for _, s := range sent {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}
