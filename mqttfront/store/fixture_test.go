package store

import (
	"fmt"
	"strings"
)

// v1FixturePath is a store file in format version 1 (one record per session,
// its subscriptions inside), written from v1Fixture by a TestWriteV1Fixture
// that commit 3632dba added on top of 1777ce5, the last code writing that
// format (PutSession, PutMessage, PutRetained, then Close). The generator
// is gone since the store writes format 2; the migration test opens a copy.
const v1FixturePath = "testdata/format1.db"

// v1Fixture is what testdata/format1.db holds: sessions (one with a will and
// several subscription kinds, one without subscriptions, a client id and a
// filter long enough to be hashed into their keys, one with 300
// subscriptions), messages and retained messages.
func v1Fixture() (sessions []*Session, msgs map[string][]seqMsg, retained []*Message) {
	long := &Session{
		ClientID: strings.Repeat("L", 1100), Version: 4, ExpiryInterval: 3600,
		Subscriptions: []Subscription{
			{Filter: "long/" + strings.Repeat("f", 2000) + "/#", QoS: 1},
			{Filter: "short", QoS: 2},
		},
	}
	many := &Session{ClientID: "many", Version: 5, Username: "bob", ExpiryInterval: 60, DisconnectedAt: t0}
	for i := range 300 {
		many.Subscriptions = append(many.Subscriptions, Subscription{
			Filter: fmt.Sprintf("m/%03d/#", 299-i), QoS: byte(i % 3), NoLocal: i%2 == 0, ID: uint32(i),
		})
	}
	sessions = []*Session{fullSession(), {ClientID: "minimal", Version: 3}, long, many}
	msgs = map[string][]seqMsg{
		fullSession().ClientID: {{1, fullMessage()}, {2, &Message{Topic: "q", QoS: 1}}},
		"many":                 {{7, &Message{Topic: "m/001/x", Payload: []byte("p"), QoS: 2, PacketID: 9, State: StatePublished}}},
	}
	retained = []*Message{fullMessage(), {Topic: "r/" + strings.Repeat("t", 1500), Payload: []byte("long"), Retain: true}}
	return sessions, msgs, retained
}
