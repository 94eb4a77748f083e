package cluster

import (
	"encoding/binary"
	"fmt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
)

// Inbox record kinds of the handover (README.md, "Records"); 9 is the
// janitor's reap record in the sessions topic.
const (
	kindFence        = 7
	kindHandoverDone = 8
	kindHeld         = 10
)

// fenceRecord: source str | n uv {next uv}: the source has applied the
// sessions topic up to next[p] (the next offset) in every partition p, and
// nothing it routed or forwarded on an older view follows in this inbox
// partition.
type fenceRecord struct {
	Source string
	Next   []int64
}

// heldRecord: source str | client str | epoch uv | index uv | state | pid uv | qos |
// flags (0x01 retain) | nSubIDs uv {id uv} | publisher str | username str |
// receivedAt t | message (the will layout of sessionrecords.go). One
// message the old owner held for the session, in the order it held them.
type heldRecord struct {
	Source   string
	ClientID string
	Epoch    int64
	Index    uint64 // its place in the handover, from 0: a retried handover repeats its records
	Held     mqttfront.HeldMessage
}

// doneRecord: source str | client str | epoch uv | held uv | nQoS2 uv {pid
// uv}: the old owner sent everything it held for the session (held
// records before this one, in the same partition) and its inbound QoS 2
// ids.
type doneRecord struct {
	Source      string
	ClientID    string
	Epoch       int64
	Held        uint64
	InboundQoS2 []uint16
}

const heldRetain = 0x01

func (r fenceRecord) encode() []byte {
	b := []byte{recordFormat, kindFence}
	b = appendStr(b, r.Source)
	b = binary.AppendUvarint(b, uint64(len(r.Next)))
	for _, n := range r.Next {
		b = binary.AppendUvarint(b, uint64(n))
	}
	return b
}

func (r heldRecord) encode() []byte {
	h, m := &r.Held, r.Held.Msg
	b := make([]byte, 0, 64+len(m.Topic)+len(m.Payload))
	b = append(b, recordFormat, kindHeld)
	b = appendStr(b, r.Source)
	b = appendStr(b, r.ClientID)
	b = binary.AppendUvarint(b, uint64(r.Epoch))
	b = binary.AppendUvarint(b, r.Index)
	b = append(b, h.State)
	b = binary.AppendUvarint(b, uint64(h.PacketID))
	var flags byte
	if h.Retain {
		flags |= heldRetain
	}
	b = append(b, h.QoS, flags)
	b = binary.AppendUvarint(b, uint64(len(h.SubIDs)))
	for _, id := range h.SubIDs {
		b = binary.AppendUvarint(b, uint64(id))
	}
	b = appendStr(b, m.ClientID)
	b = appendStr(b, m.Username)
	b = appendTime(b, m.ReceivedAt)
	return appendWill(b, m)
}

func (r doneRecord) encode() []byte {
	b := []byte{recordFormat, kindHandoverDone}
	b = appendStr(b, r.Source)
	b = appendStr(b, r.ClientID)
	b = binary.AppendUvarint(b, uint64(r.Epoch))
	b = binary.AppendUvarint(b, r.Held)
	b = binary.AppendUvarint(b, uint64(len(r.InboundQoS2)))
	for _, id := range r.InboundQoS2 {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return b
}

func decodeFence(v []byte) (fenceRecord, error) {
	d := decoder{b: v[2:]}
	var r fenceRecord
	r.Source = d.str("source")
	if n := d.count("fence partitions", 1); n > 0 {
		r.Next = make([]int64, n)
		for i := range r.Next {
			r.Next[i] = int64(d.uvMax("fence offset", 1<<63-1))
		}
	}
	return r, d.end()
}

func decodeHeld(v []byte) (heldRecord, error) {
	d := decoder{b: v[2:]}
	var r heldRecord
	r.Source = d.str("source")
	r.ClientID = d.str("client")
	d.check(r.ClientID != "", "empty client id")
	r.Epoch = int64(d.uvMax("epoch", 1<<63-1))
	r.Index = d.uv("index")
	h := &r.Held
	h.State = d.byte1("state")
	h.PacketID = uint16(d.uvMax("packet id", 0xffff))
	h.QoS = d.byte1("qos")
	flags := d.byte1("flags")
	d.check(h.State <= store.StateReleased && h.QoS >= 1 && h.QoS <= 2 && flags&^heldRetain == 0,
		"state %d, qos %d, flags %#x", h.State, h.QoS, flags)
	d.check((h.State == store.StateQueued) == (h.PacketID == 0), "state %d with packet id %d", h.State, h.PacketID)
	h.Retain = flags&heldRetain != 0
	if n := d.count("subscription ids", 1); n > 0 {
		h.SubIDs = make([]uint32, n)
		for i := range h.SubIDs {
			h.SubIDs[i] = uint32(d.uvMax("subscription id", 268435455))
		}
	}
	publisher := d.str("publisher")
	username := d.str("username")
	at := d.time("received at")
	if d.err != nil {
		return heldRecord{}, d.err
	}
	h.Msg = d.will(publisher, username)
	h.Msg.ReceivedAt = at
	if err := d.end(); err != nil {
		return heldRecord{}, err
	}
	return r, nil
}

func decodeDone(v []byte) (doneRecord, error) {
	d := decoder{b: v[2:]}
	var r doneRecord
	r.Source = d.str("source")
	r.ClientID = d.str("client")
	d.check(r.ClientID != "", "empty client id")
	r.Epoch = int64(d.uvMax("epoch", 1<<63-1))
	r.Held = d.uv("held")
	if n := d.count("inbound qos 2 ids", 1); n > 0 {
		r.InboundQoS2 = make([]uint16, n)
		for i := range r.InboundQoS2 {
			r.InboundQoS2[i] = uint16(d.uvMax("inbound qos 2 id", 0xffff))
			d.check(r.InboundQoS2[i] != 0, "inbound qos 2 id 0")
		}
	}
	return r, d.end()
}

// inboxKind is the kind of an inbox record: a copy, a fence, a held
// message or a handover's end; others are refused.
func inboxKind(v []byte) (byte, error) {
	kind, err := recordKind(v)
	if err != nil {
		return 0, err
	}
	switch kind {
	case kindCopy, kindFence, kindHeld, kindHandoverDone:
		return kind, nil
	}
	return 0, fmt.Errorf("%w: kind %d in an inbox", ErrCorrupt, kind)
}
