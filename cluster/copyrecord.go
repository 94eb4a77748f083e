package cluster

import (
	"encoding/binary"
	"fmt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// kindCopy is a copy of a message for sessions another replica owns, in
// that replica's inbox (README.md, "Records").
const kindCopy = 6

// copyRecord: source str | hops uv | publisher str | username str |
// receivedAt t | nTargets uv {client str} | message (the will layout of
// sessionrecords.go: topic, payload, qos, flags, properties).
type copyRecord struct {
	// Source is the replica that produced this copy: the publisher's, or
	// one that forwarded it (stale route table). It is the record's key.
	Source string
	// Hops counts the forwards so far; a copy is not forwarded beyond
	// maxForwardHops.
	Hops uint64
	// Targets are the sessions the source found owned by the target
	// replica: the receiver delivers to those it holds and forwards the
	// others to their current owner.
	Targets []string
	// Msg is the message; Msg.ClientID is the publisher ("" injected),
	// for No Local.
	Msg *mqttfront.Message
}

// maxForwardHops bounds forwards of one copy between replicas whose views
// of a session's owner disagree for a moment.
const maxForwardHops = 8

func (r copyRecord) encode() []byte {
	m := r.Msg
	n := 64 + len(m.Topic) + len(m.Payload)
	for _, t := range r.Targets {
		n += len(t) + 2
	}
	b := make([]byte, 0, n)
	b = append(b, recordFormat, kindCopy)
	b = appendStr(b, r.Source)
	b = binary.AppendUvarint(b, r.Hops)
	b = appendStr(b, m.ClientID)
	b = appendStr(b, m.Username)
	b = appendTime(b, m.ReceivedAt)
	b = binary.AppendUvarint(b, uint64(len(r.Targets)))
	for _, t := range r.Targets {
		b = appendStr(b, t)
	}
	return appendWill(b, m)
}

func decodeCopy(v []byte) (copyRecord, error) {
	kind, err := recordKind(v)
	if err != nil {
		return copyRecord{}, err
	}
	if kind != kindCopy {
		return copyRecord{}, fmt.Errorf("%w: kind %d in an inbox (want %d, a copy)", ErrCorrupt, kind, kindCopy)
	}
	d := decoder{b: v[2:]}
	var r copyRecord
	r.Source = d.str("source")
	r.Hops = d.uv("hops")
	publisher := d.str("publisher")
	username := d.str("username")
	at := d.time("received at")
	n := d.count("targets", 1)
	if n > 0 {
		r.Targets = make([]string, n)
		for i := range r.Targets {
			r.Targets[i] = d.str("target")
			d.check(r.Targets[i] != "", "empty target client id")
		}
	}
	if d.err != nil {
		return copyRecord{}, d.err
	}
	r.Msg = d.will(publisher, username)
	r.Msg.ReceivedAt = at
	if err := d.end(); err != nil {
		return copyRecord{}, err
	}
	return r, nil
}
