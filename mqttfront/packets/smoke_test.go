package packets

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"
)

func TestSmoke(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		pkts := []*Packet{
			{Type: CONNECT, Connect: Connect{ProtocolVersion: v, ClientID: "abc", CleanStart: true, KeepAlive: 30, UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p"), WillFlag: true, WillQoS: 1, WillTopic: "w", WillPayload: []byte("x")}},
			{Type: PUBLISH, QoS: 1, PacketID: 7, Topic: "a/b", Payload: []byte("hello")},
			{Type: PUBACK, PacketID: 7},
			{Type: SUBSCRIBE, PacketID: 2, Subscriptions: []Subscription{{Filter: "a/#", QoS: 1}}},
			{Type: SUBACK, PacketID: 2, ReasonCodes: []ReasonCode{1}},
			{Type: PINGREQ},
			{Type: DISCONNECT},
		}
		for _, p := range pkts {
			b, err := Encode(nil, p, v)
			if err != nil {
				t.Fatal(err)
			}
			q, err := Read(bufio.NewReader(bytes.NewReader(b)), v, 0)
			if err != nil {
				t.Fatalf("%v %x: %v", p.Type, b, err)
			}
			if p.Type == CONNECT {
				p.Connect.ProtocolName = "MQTT"
			}
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("%+v != %+v", p, q)
			}
		}
	}
}
