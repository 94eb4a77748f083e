package cluster

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// TestReapRecordBytes: the reap record's layout (README.md, "Records").
func TestReapRecordBytes(t *testing.T) {
	r := reapRecord{Epoch: 300, Janitor: "r2", Incarnation: 7, At: time.UnixMilli(1)}
	want := []byte{
		1, 9, // format 1, kind 9 (reap)
		0xac, 0x02, // epoch 300 (uvarint)
		2, 'r', '2', // janitor "r2"
		7,    // janitor incarnation 7
		0x02, // at: 1 ms (zigzag varint)
	}
	if got := r.encode(); !bytes.Equal(got, want) {
		t.Fatalf("encode = % x; want % x", got, want)
	}
	back, err := decodeReap(want)
	if err != nil || back != r {
		t.Fatalf("decodeReap = %+v, %v; want %+v", back, err, r)
	}
	for name, v := range map[string][]byte{
		"truncated": want[:len(want)-1],
		"trailing":  append(append([]byte{}, want...), 0),
		"no time":   append(append([]byte{}, want[:len(want)-1]...), 0),
		"a claim":   claimRecord{Owner: "r1", At: time.UnixMilli(1)}.encode(),
	} {
		if _, err := decodeReap(v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeReap(%s) = %v; want ErrCorrupt", name, err)
		}
	}
}

// TestReapApply: the reader's rule, as replica r1 (the dead owner's id,
// running again, or paused) and as any replica sees it: only the first
// reap after the owner's last claim, of an online session, counts; it
// takes the session offline under its own offset as epoch, delivers the
// will once, and fences every later write under the old epoch.
func TestReapApply(t *testing.T) {
	c := newClaims("r1", 1, "sessions", 4)
	var wills []string
	var reaped []int64
	c.onWill = func(m *mqttfront.Message) { wills = append(wills, string(m.Payload)) }
	c.onReaped = func(_ string, lost Owner) { reaped = append(reaped, lost.Epoch) }
	t0 := time.UnixMilli(1_700_000_000_000)
	will := &mqttfront.Message{Topic: "w/d", Payload: []byte("gone"), QoS: 1}
	subs := []topics.Sub{{ClientID: "d", Filter: "a/#", QoS: 1}}
	apply := func(off int64, v []byte, replayed bool) {
		t.Helper()
		if _, err := c.apply(&Record{Key: []byte("d"), Offset: off, Value: v, Replayed: replayed}); err != nil {
			t.Fatalf("apply offset %d: %v", off, err)
		}
	}
	online := func(epoch int64) []byte {
		return stateRecord{Owner: "r1", Incarnation: 1, State: mqttfront.SessionState{Epoch: epoch, Version: 5, Expiry: 60,
			Subscriptions: subs, Will: will, WillDelay: 2}}.encode()
	}
	reap := func(epoch int64) []byte {
		return reapRecord{Epoch: epoch, Janitor: "r2", Incarnation: 2, At: t0}.encode()
	}

	apply(10, claimRecord{Owner: "r1", Incarnation: 1, Version: 5, Expiry: 60, At: t0}.encode(), false)
	apply(11, online(10), false)
	apply(12, reap(10), false)
	st, o, _ := c.State("d")
	if o != (Owner{Replica: "r1", Epoch: 12}) || st.Epoch != 12 || st.DisconnectedAt != t0 || len(st.Subscriptions) != 1 || !c.sessions["d"].unconfirmed {
		t.Fatalf("after the reap: owner %+v, state %+v, unconfirmed %v; want r1 (no incarnation) at epoch 12, offline since t0, 1 subscription, unconfirmed",
			o, st, c.sessions["d"].unconfirmed)
	}
	if len(wills) != 1 || len(reaped) != 1 || reaped[0] != 10 {
		t.Fatalf("wills %q, reaped epochs %v; want one will and epoch 10 reaped", wills, reaped)
	}
	// The view's per-owner counts follow: the session is offline now
	// (a reap that bypassed putLocked left it counted online for ever).
	if on, off := c.owned(); on["r1"] != 0 || off["r1"] != 1 {
		t.Fatalf("after the reap: r1 owns %d online, %d offline; want 0 and 1", on["r1"], off["r1"])
	}
	// A second janitor's reap of epoch 10, and the paused owner's late
	// write under it, are fenced.
	apply(13, reap(10), false)
	apply(14, online(10), false)
	if _, o, _ := c.State("d"); o.Epoch != 12 || len(wills) != 1 {
		t.Fatalf("after a second reap and a zombie write: epoch %d, wills %q; want 12 and one will", o.Epoch, wills)
	}
	// The cache keeps the unconfirmed will.
	e, err := decodeEntry("d", encodeEntry(c.sessions["d"]))
	if err != nil || !e.unconfirmed || e.state.Will == nil || string(e.state.Will.Payload) != "gone" {
		t.Fatalf("cached entry = %+v, %v; want unconfirmed with the will", e, err)
	}
	// The janitor's confirmation: the state without the will.
	apply(15, stateRecord{Owner: "r1", State: mqttfront.SessionState{Epoch: 12, Version: 5, Expiry: 60, DisconnectedAt: t0, Subscriptions: subs}}.encode(), false)
	if e := c.sessions["d"]; e.unconfirmed || e.state.Will != nil {
		t.Fatalf("after the confirmation: unconfirmed %v, will %v; want neither", e.unconfirmed, e.state.Will)
	}

	// A later claim cancels a reap of the epoch it ended.
	apply(20, claimRecord{Owner: "r3", Incarnation: 3, Version: 5, Expiry: 60, At: t0}.encode(), false)
	apply(21, stateRecord{Owner: "r3", Incarnation: 3, State: mqttfront.SessionState{Epoch: 20, Version: 5, Expiry: 60, Will: will}}.encode(), false)
	apply(22, claimRecord{Owner: "r2", Incarnation: 2, Version: 5, Expiry: 60, At: t0}.encode(), false)
	apply(23, reap(20), false)
	if _, o, _ := c.State("d"); o.Epoch != 22 || len(wills) != 1 {
		t.Fatalf("reap after a later claim: epoch %d, wills %q; want 22 and still one will", o.Epoch, wills)
	}
	// An offline session is not reaped (its owner handled its will).
	apply(24, stateRecord{Owner: "r2", Incarnation: 2, State: mqttfront.SessionState{Epoch: 22, Version: 5, Expiry: 60, DisconnectedAt: t0}}.encode(), false)
	apply(25, reap(22), false)
	if _, o, _ := c.State("d"); o.Epoch != 22 {
		t.Fatalf("reap of an offline session: epoch %d; want 22", o.Epoch)
	}
	// A replayed reap (a cold read) takes the session but delivers nothing.
	apply(30, claimRecord{Owner: "r2", Incarnation: 2, Version: 5, Expiry: 60, At: t0}.encode(), false)
	apply(31, stateRecord{Owner: "r2", Incarnation: 2, State: mqttfront.SessionState{Epoch: 30, Version: 5, Expiry: 60, Will: will}}.encode(), false)
	apply(32, reap(30), true)
	if _, o, _ := c.State("d"); o.Epoch != 32 || len(wills) != 1 {
		t.Fatalf("replayed reap: epoch %d, wills %q; want 32 and no new delivery", o.Epoch, wills)
	}
	if len(reaped) != 1 {
		t.Fatalf("r1 told of reaps of epochs %v; want only 10 (the others were not its)", reaped)
	}
}
