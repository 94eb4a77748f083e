package benchkit

import (
	"reflect"
	"testing"
)

type obs struct {
	client string
	seq    uint64
}

func TestLedger(t *testing.T) {
	seqs := func(c string, s ...uint64) []obs {
		out := make([]obs, len(s))
		for i, x := range s {
			out[i] = obs{c, x}
		}
		return out
	}
	cat := func(xs ...[]obs) []obs {
		var out []obs
		for _, x := range xs {
			out = append(out, x...)
		}
		return out
	}
	tests := []struct {
		name     string
		expected []obs
		seen     []obs
		want     Accounting
	}{
		{"all in order", seqs("a", 0, 1, 2, 3), seqs("a", 0, 1, 2, 3),
			Accounting{Expected: 4, Seen: 4}},
		{"nothing seen", seqs("a", 0, 1, 2), nil,
			Accounting{Expected: 3, Lost: 3, LossyClients: []string{"a"}}},
		{"gap in the middle", seqs("a", 0, 1, 2, 3), seqs("a", 0, 1, 3),
			Accounting{Expected: 4, Seen: 3, Lost: 1, LossyClients: []string{"a"}}},
		{"duplicates after a retry are not disorder", seqs("a", 0, 1, 2), seqs("a", 0, 1, 0, 1, 2, 2),
			Accounting{Expected: 3, Seen: 3, Duplicates: 3}},
		{"swap is one order violation", seqs("a", 0, 1, 2, 3), seqs("a", 0, 2, 1, 3),
			Accounting{Expected: 4, Seen: 4, OrderViolations: 1}},
		{"late first occurrence", seqs("a", 0, 1, 2, 3, 4), seqs("a", 1, 2, 3, 4, 0),
			Accounting{Expected: 5, Seen: 5, OrderViolations: 1}},
		{"order is per client", cat(seqs("a", 0, 1), seqs("b", 0, 1)), cat(seqs("a", 0), seqs("b", 0, 1), seqs("a", 1)),
			Accounting{Expected: 4, Seen: 4}},
		{"loss on one client only", cat(seqs("a", 0, 1), seqs("b", 0, 1)), cat(seqs("a", 0, 1), seqs("b", 1)),
			Accounting{Expected: 4, Seen: 3, Lost: 1, LossyClients: []string{"b"}}},
		{"seen but never expected (QoS 1 not acked in time)", seqs("a", 0), seqs("a", 0, 1),
			Accounting{Expected: 1, Seen: 2, Unexpected: 1}},
		{"sequence numbers past one word", seqs("a", 0, 63, 64, 200), seqs("a", 0, 64, 63, 200, 200),
			Accounting{Expected: 4, Seen: 4, Duplicates: 1, OrderViolations: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger()
			for _, e := range tc.expected {
				l.Expect(e.client, e.seq)
			}
			for _, s := range tc.seen {
				l.Observe(s.client, s.seq)
			}
			got := l.Report()
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Report() = %+v\nwant %+v", got, tc.want)
			}
			if o := l.Outstanding(); o != tc.want.Lost {
				t.Errorf("Outstanding() = %d, want %d", o, tc.want.Lost)
			}
		})
	}
}

func TestLedgerGaps(t *testing.T) {
	l := NewLedger()
	for _, s := range []uint64{5, 6, 9, 10} { // a subscriber that joined at 5: 7 and 8 are gaps
		l.Observe("a", s)
	}
	l.Observe("b", 0)
	if g := l.gaps(); g != 2 {
		t.Errorf("gaps() = %d, want 2", g)
	}
}

func BenchmarkLedgerObserve(b *testing.B) {
	l := NewLedger()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Observe("client", uint64(i))
	}
}
