package cluster

import (
	"encoding/binary"
	"fmt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// kindCopy is a copy of a message for sessions another replica owns, in
// that replica's inbox (README.md, "Records").
const kindCopy = 6

// copyRecord: source str | hops uv | publisher str | username str |
// receivedAt t | nTargets uv {target} | message (the will layout of
// sessionrecords.go: topic, payload, qos, flags, properties).
//
// A target is a session, `client str` (never empty), or a typed target:
// an empty string (a 0 byte) then `kind byte | fields of the kind`. Kind
// 1 (targetShare) is a $share group: `filter str | nTried uv {replica
// str}`. The encoder writes sessions first. A reader that predates typed
// targets refuses the record ("empty target client id") and stops rather
// than skips it, as it does for an unknown kind (README.md, "Upgrades").
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
	// Groups are the $share groups the source chose the target replica
	// for: it gives the message to one member of each it holds and
	// forwards the others to another replica holding members
	// (share.go).
	Groups []shareTarget
	// Msg is the message; Msg.ClientID is the publisher ("" injected),
	// for No Local.
	Msg *mqttfront.Message
}

// shareTarget is a copy's target naming a $share group rather than a
// session.
type shareTarget struct {
	// Filter is the group's full filter, "$share/{group}/{filter}".
	Filter string
	// Tried are the replicas that had no member to take the message (the
	// publisher's, forwarders): not chosen again.
	Tried []string
}

// Typed copy targets (after an empty client id).
const targetShare = 1

// maxForwardHops bounds forwards of one copy between replicas whose views
// of a session's owner disagree for a moment.
const maxForwardHops = 8

func (r copyRecord) encode() []byte {
	m := r.Msg
	n := 64 + len(m.Topic) + len(m.Payload)
	for _, t := range r.Targets {
		n += len(t) + 2
	}
	for _, g := range r.Groups {
		n += len(g.Filter) + 4 + 8*len(g.Tried)
	}
	b := make([]byte, 0, n)
	b = append(b, recordFormat, kindCopy)
	b = appendStr(b, r.Source)
	b = binary.AppendUvarint(b, r.Hops)
	b = appendStr(b, m.ClientID)
	b = appendStr(b, m.Username)
	b = appendTime(b, m.ReceivedAt)
	b = binary.AppendUvarint(b, uint64(len(r.Targets)+len(r.Groups)))
	for _, t := range r.Targets {
		b = appendStr(b, t)
	}
	for _, g := range r.Groups {
		b = append(b, 0, targetShare)
		b = appendStr(b, g.Filter)
		b = binary.AppendUvarint(b, uint64(len(g.Tried)))
		for _, t := range g.Tried {
			b = appendStr(b, t)
		}
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
	for range n {
		if d.err != nil {
			break
		}
		if t := d.str("target"); t != "" {
			r.Targets = append(r.Targets, t)
			continue
		}
		switch kind := d.byte1("target kind"); kind {
		case targetShare:
			g := shareTarget{Filter: d.str("share filter")}
			_, _, ok := topics.SplitShared(g.Filter)
			d.check(ok, "share target %q is not a shared filter", g.Filter)
			for range d.count("tried replicas", 1) {
				rep := d.str("tried replica")
				d.check(rep != "", "empty tried replica")
				if d.err != nil {
					break
				}
				g.Tried = append(g.Tried, rep)
			}
			r.Groups = append(r.Groups, g)
		default:
			d.check(false, "unknown copy target kind %d", kind)
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
