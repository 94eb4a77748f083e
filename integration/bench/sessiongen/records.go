package main

// The two session records the generator writes, encoded from the layout
// documented in cluster/README.md ("Records", format 1): a claim (kind 1)
// and a state (kind 2). The cluster package keeps its codec unexported, so
// this is an independent encoder of the documented format;
// records_test.go pins its bytes and integration/bench/run.sh (K3) checks
// that a replica counts every generated session.

import (
	"encoding/binary"
	"time"
)

const (
	recordFormat = 1
	kindClaim    = 1
	kindState    = 2

	stateDisconnected = 0x01 // disconnectedAt follows the flags
)

// session is one generated persistent session: an MQTT 3.1.1 client with
// clean session false, subscribed to Filters at QoS 1.
type session struct {
	ClientID    string
	Owner       string // the replica id that claimed it
	Incarnation uint64
	Version     byte   // 4 = MQTT 3.1.1
	Expiry      uint32 // seconds; 0xFFFFFFFF = never (3.1.1's persistent session)
	Filters     []string
	At          time.Time // the claim's time and the disconnection's
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendMillis appends t as a signed varint of Unix milliseconds.
func appendMillis(b []byte, t time.Time) []byte {
	return binary.AppendVarint(b, t.UnixMilli())
}

// claim is the CONNECT's claim: owner, incarnation, flags (none: not a
// clean start, no user name, not bound), version, expiry, time. Its epoch
// is the offset Kafka gives it.
func (s *session) claim() []byte {
	b := []byte{recordFormat, kindClaim}
	b = appendStr(b, s.Owner)
	b = binary.AppendUvarint(b, s.Incarnation)
	b = append(b, 0, s.Version)
	b = binary.AppendUvarint(b, uint64(s.Expiry))
	return appendMillis(b, s.At)
}

// state is the session's full state under epoch (its claim's offset):
// online, or offline since s.At; no user name, no QoS 2 ids, no will.
func (s *session) state(epoch int64, offline bool) []byte {
	b := []byte{recordFormat, kindState}
	b = binary.AppendUvarint(b, uint64(epoch))
	b = appendStr(b, s.Owner)
	b = binary.AppendUvarint(b, s.Incarnation)
	b = appendStr(b, "") // user name
	b = append(b, s.Version)
	b = binary.AppendUvarint(b, uint64(s.Expiry))
	if offline {
		b = append(b, stateDisconnected)
		b = appendMillis(b, s.At)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Filters)))
	for _, f := range s.Filters {
		b = appendStr(b, f)
		b = append(b, 1, 0, 0)         // QoS 1, no flags, retain handling 0
		b = binary.AppendUvarint(b, 0) // no subscription id
	}
	return binary.AppendUvarint(b, 0) // no QoS 2 ids
}
