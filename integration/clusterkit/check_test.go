package clusterkit

import (
	"strings"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
)

func TestCheck(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sent := func(pub string, seq int, acked bool) Sent {
		return Sent{Pub: pub, Seq: seq, QoS: 1, Sent: t0.Add(time.Duration(seq) * time.Millisecond), Acked: acked}
	}
	got := func(pub string, seq int, dup bool) Receipt {
		return Receipt{Pub: pub, Seq: seq, Dup: dup, At: t0.Add(time.Duration(seq)*time.Millisecond + 5*time.Millisecond)}
	}
	pubs := []Sent{sent("a", 1, true), sent("a", 2, true), sent("a", 3, false), sent("b", 1, true), sent("b", 2, true)}
	cases := []struct {
		name    string
		got     []Receipt
		ok      bool
		lost    int
		dups    int
		dupFlag int
		reord   int
		unacked int
		foreign int
		corrupt int
	}{
		{name: "all once in order, publishers interleaved", got: []Receipt{got("a", 1, false), got("b", 1, false), got("a", 2, false), got("b", 2, false)}, ok: true},
		{name: "an unacked one delivered is allowed", got: []Receipt{got("a", 1, false), got("b", 1, false), got("a", 2, false), got("a", 3, false), got("b", 2, false)}, ok: true, unacked: 1},
		{name: "an acked one missing is lost", got: []Receipt{got("a", 1, false), got("b", 1, false), got("b", 2, false)}, lost: 1},
		{name: "a repeat without DUP is a duplicate", got: []Receipt{got("a", 1, false), got("a", 1, false), got("a", 2, false), got("b", 1, false), got("b", 2, false)}, dups: 1},
		{name: "a DUP redelivery is allowed", got: []Receipt{got("a", 1, false), got("a", 1, true), got("a", 2, false), got("b", 1, false), got("b", 2, false)}, ok: true, dupFlag: 1},
		{name: "a replay of an earlier one is a duplicate, not a reorder", got: []Receipt{got("a", 1, false), got("a", 2, false), got("a", 1, false), got("b", 1, false), got("b", 2, false)}, dups: 1},
		{name: "a new one after a later one is reordered", got: []Receipt{got("a", 2, false), got("a", 1, false), got("b", 1, false), got("b", 2, false)}, reord: 1},
		{name: "other publishers are ignored", got: []Receipt{got("a", 1, false), got("z", 9, false), got("a", 2, false), got("b", 1, false), got("b", 2, false)}, ok: true, foreign: 1},
		{name: "a corrupt payload fails", got: []Receipt{{Corrupt: []byte("x")}, got("a", 1, false), got("a", 2, false), got("b", 1, false), got("b", 2, false)}, corrupt: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Check(pubs, c.got)
			if r.OK() != c.ok || len(r.Lost) != c.lost || r.Duplicates != c.dups || r.DupRedeliveries != c.dupFlag ||
				len(r.Reordered) != c.reord || r.Unacked != c.unacked || r.Foreign != c.foreign || r.Corrupt != c.corrupt {
				t.Errorf("Check = %s (OK %v); want OK %v, lost %d, duplicates %d, DUP %d, reordered %d, unacked %d, foreign %d, corrupt %d",
					r, r.OK(), c.ok, c.lost, c.dups, c.dupFlag, c.reord, c.unacked, c.foreign, c.corrupt)
			}
			if r.Acked != 4 || r.Sent != 5 {
				t.Errorf("Check: sent %d, acked %d; want 5 and 4", r.Sent, r.Acked)
			}
		})
	}
	r := Check(pubs, []Receipt{got("a", 1, false), got("b", 1, false), got("a", 2, false), got("b", 2, false)})
	if r.Latency.N != 4 || r.Latency.P50 != 5*time.Millisecond || r.Latency.Max != 5*time.Millisecond {
		t.Errorf("Latency = %s; want n=4, every one 5ms", r.Latency)
	}
	lost := Check(pubs, nil)
	if s := lost.String(); !strings.Contains(s, "lost a #1") || !strings.Contains(s, "lost b #2") {
		t.Errorf("String() = %q; want the lost publishes named", s)
	}
}

func TestParseReceipt(t *testing.T) {
	at := time.Unix(5, 0)
	g := ParseReceipt(Message{Payload: faultkit.Payload("dev-1", 42, 80), QoS: 2, Dup: true, At: at}, 3)
	if g.Pub != "dev-1" || g.Seq != 42 || g.QoS != 2 || !g.Dup || !g.At.Equal(at) || g.Conn != 3 || g.Corrupt != nil {
		t.Errorf("ParseReceipt(a payload) = %+v; want dev-1 #42 QoS 2 DUP on connection 3", g)
	}
	for _, p := range [][]byte{nil, []byte("garbage"), append(faultkit.Payload("dev-1", 42, 80), 'x')} {
		if g := ParseReceipt(Message{Payload: p}, 0); g.Corrupt == nil || g.Pub != "" {
			t.Errorf("ParseReceipt(%q) = %+v; want corrupt", p, g)
		}
	}
}
