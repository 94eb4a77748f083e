package benchkit

import (
	"math/bits"
	"sort"
	"sync"
)

// Ledger accounts, per client (which is also the Kafka key), for what was
// expected and what was seen: loss (expected, never seen), duplicates (seen
// again) and order violations (a first occurrence with a lower sequence than
// an earlier first occurrence of the same client). Safe for concurrent use.
type Ledger struct {
	mu      sync.Mutex
	clients map[string]*clientBook
}

type clientBook struct {
	expected bitset
	seen     bitset
	maxSeen  uint64
	any      bool
	dups     uint64
	disorder uint64
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{clients: make(map[string]*clientBook)} }

func (l *Ledger) book(client string) *clientBook {
	b := l.clients[client]
	if b == nil {
		b = &clientBook{}
		l.clients[client] = b
	}
	return b
}

// Expect marks (client, seq) as one that must land: acked for QoS 1/2, sent for QoS 0.
func (l *Ledger) Expect(client string, seq uint64) {
	l.mu.Lock()
	l.book(client).expected.set(seq)
	l.mu.Unlock()
}

// Observe records that (client, seq) was read back.
func (l *Ledger) Observe(client string, seq uint64) {
	l.mu.Lock()
	b := l.book(client)
	switch {
	case b.seen.has(seq):
		b.dups++
	default:
		b.seen.set(seq)
		if b.any && seq < b.maxSeen {
			b.disorder++
		}
		if !b.any || seq > b.maxSeen {
			b.maxSeen = seq
		}
		b.any = true
	}
	l.mu.Unlock()
}

// Outstanding is how many expected records have not been seen yet.
func (l *Ledger) Outstanding() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n uint64
	for _, b := range l.clients {
		n += b.expected.andNotCount(&b.seen)
	}
	return n
}

// Accounting is the outcome of a Ledger.
type Accounting struct {
	Expected        uint64   `json:"expected"`
	Seen            uint64   `json:"seen_distinct"`
	Lost            uint64   `json:"lost"`
	Duplicates      uint64   `json:"duplicates"`
	OrderViolations uint64   `json:"order_violations"`
	Unexpected      uint64   `json:"unexpected"` // seen, never expected (e.g. QoS 1 sent but not acked in time)
	LossyClients    []string `json:"lossy_clients,omitempty"`
}

// Report computes the accounting so far.
func (l *Ledger) Report() Accounting {
	l.mu.Lock()
	defer l.mu.Unlock()
	var a Accounting
	for c, b := range l.clients {
		a.Expected += b.expected.count()
		a.Seen += b.seen.count()
		lost := b.expected.andNotCount(&b.seen)
		a.Lost += lost
		a.Unexpected += b.seen.andNotCount(&b.expected)
		a.Duplicates += b.dups
		a.OrderViolations += b.disorder
		if lost > 0 {
			a.LossyClients = append(a.LossyClients, c)
		}
	}
	sort.Strings(a.LossyClients)
	if len(a.LossyClients) > 20 {
		a.LossyClients = a.LossyClients[:20]
	}
	return a
}

// bitset is a growable set of sequence numbers.
type bitset []uint64

func (s *bitset) set(i uint64) {
	w := int(i / 64)
	if w >= len(*s) {
		*s = append(*s, make([]uint64, w-len(*s)+1)...)
	}
	(*s)[w] |= 1 << (i % 64)
}

func (s *bitset) has(i uint64) bool {
	w := int(i / 64)
	return w < len(*s) && (*s)[w]&(1<<(i%64)) != 0
}

func (s *bitset) count() uint64 {
	var n uint64
	for _, w := range *s {
		n += uint64(bits.OnesCount64(w))
	}
	return n
}

// andNotCount counts the members of s not in o.
func (s *bitset) andNotCount(o *bitset) uint64 {
	var n uint64
	for i, w := range *s {
		if i < len(*o) {
			w &^= (*o)[i]
		}
		n += uint64(bits.OnesCount64(w))
	}
	return n
}
