package faultkit

import (
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	now := time.Now()
	pub := func(key string, seq int, acked bool) Pub {
		return Pub{Key: key, Seq: seq, Sent: now, Done: now, Acked: acked}
	}
	rec := func(key string, seq int) Record {
		return Record{Key: key, Value: Payload(key, seq, 64)}
	}
	pubs := []Pub{pub("a", 1, true), pub("a", 2, true), pub("a", 3, false), pub("b", 1, true)}
	tests := []struct {
		name                                      string
		records                                   []Record
		missing, dups, unacked, reordered, corrup int
	}{
		{"exact", []Record{rec("a", 1), rec("a", 2), rec("b", 1)}, 0, 0, 0, 0, 0},
		{"missing acked", []Record{rec("a", 1), rec("b", 1)}, 1, 0, 0, 0, 0},
		{"unacked present is fine", []Record{rec("a", 1), rec("a", 2), rec("a", 3), rec("b", 1)}, 0, 0, 1, 0, 0},
		{"replayed duplicates", []Record{rec("a", 1), rec("a", 2), rec("a", 1), rec("a", 2), rec("b", 1)}, 0, 2, 0, 0, 0},
		{"reordered", []Record{rec("a", 2), rec("a", 1), rec("b", 1)}, 0, 0, 0, 1, 0},
		{"corrupt", []Record{rec("a", 1), rec("a", 2), rec("b", 1), {Key: "a", Value: []byte("a 000000009 zz")}}, 0, 0, 0, 0, 1},
		{"foreign ignored", []Record{rec("a", 1), rec("a", 2), rec("b", 1), rec("zzz", 1)}, 0, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(pubs, tc.records)
			if len(r.Missing) != tc.missing || r.Duplicates != tc.dups || r.Unacked != tc.unacked || len(r.Reordered) != tc.reordered || len(r.Corrupt) != tc.corrup {
				t.Errorf("Check = %s; want missing %d, dups %d, unacked %d, reordered %d, corrupt %d", r, tc.missing, tc.dups, tc.unacked, tc.reordered, tc.corrup)
			}
			if got, want := r.OK(), tc.missing+tc.reordered+tc.corrup == 0; got != want {
				t.Errorf("OK() = %v; want %v", got, want)
			}
			p := NewPresence(pubs)
			for _, rec := range tc.records {
				p.See(rec.Value)
			}
			if p.Left() != tc.missing {
				t.Errorf("Presence.Left() = %d; want %d", p.Left(), tc.missing)
			}
		})
	}
}
