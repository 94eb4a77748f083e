package mqttwire

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// frames are packets as a server sends them, annotated byte by byte.
var frames = []struct {
	name string
	raw  []byte
	typ  packets.Type
	body int // body length
}{
	{"CONNACK", []byte{
		0x20, 2, // CONNACK, remaining length 2
		0, 0, // flags, return code accepted
	}, packets.CONNACK, 2},
	{"PINGRESP", []byte{
		0xD0, 0, // PINGRESP, remaining length 0
	}, packets.PINGRESP, 0},
	{"PUBLISH, two-byte remaining length", append([]byte{
		0x30, 0x85, 0x01, // PUBLISH QoS 0, remaining length 5 + 1*128 = 133
		0, 1, 't', // topic "t"
	}, bytes.Repeat([]byte{'x'}, 130)...), packets.PUBLISH, 133},
}

func TestReadFrame(t *testing.T) {
	var all []byte
	for _, f := range frames {
		all = append(all, f.raw...)
	}
	r := bufio.NewReader(bytes.NewReader(all))
	for _, want := range frames {
		t.Run(want.name, func(t *testing.T) {
			f, err := ReadFrame(r)
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if !bytes.Equal(f, want.raw) {
				t.Errorf("ReadFrame = % X; want % X", f, want.raw)
			}
			if f.Type() != want.typ || len(f.Body()) != want.body {
				t.Errorf("Type, len(Body) = %v, %d; want %v, %d", f.Type(), len(f.Body()), want.typ, want.body)
			}
		})
	}
	if _, err := ReadFrame(r); err != io.EOF {
		t.Errorf("ReadFrame at the end = %v; want io.EOF", err)
	}
}

func TestReadFrameMalformed(t *testing.T) {
	for _, tt := range []struct {
		name string
		raw  []byte
	}{
		{"remaining length of 5 bytes", []byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}},
		{"body cut short", []byte{0x20, 2, 0}},
		{"remaining length cut short", []byte{0x30, 0x80}},
	} {
		if f, err := ReadFrame(bufio.NewReader(bytes.NewReader(tt.raw))); err == nil {
			t.Errorf("%s: ReadFrame = % X; want an error", tt.name, f)
		}
	}
}

// serveOnce accepts one connection on ln and plays a server: it answers
// CONNECT and SUBSCRIBE, reads one PUBLISH and closes. It reports what it
// read, or its first error.
func serveOnce(ln net.Listener, v packets.Version, seen chan<- []*packets.Packet, errc chan<- error) {
	nc, err := ln.Accept()
	if err != nil {
		errc <- err
		return
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(Timeout))
	br := bufio.NewReader(nc)
	var got []*packets.Packet
	for _, answer := range []*packets.Packet{
		{Type: packets.CONNACK},
		{Type: packets.SUBACK, PacketID: 9, ReasonCodes: []packets.ReasonCode{1}},
		nil,
	} {
		p, err := packets.Read(br, v, 0)
		if err != nil {
			errc <- fmt.Errorf("server read: %w", err)
			return
		}
		got = append(got, p)
		if answer == nil {
			break
		}
		b, err := packets.Encode(nil, answer, v)
		if err == nil {
			_, err = nc.Write(b)
		}
		if err != nil {
			errc <- fmt.Errorf("server answer %v: %w", answer.Type, err)
			return
		}
	}
	seen <- got
}

func TestConn(t *testing.T) {
	for _, v := range []packets.Version{packets.V31, packets.V311, packets.V5} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			seen, errc := make(chan []*packets.Packet, 1), make(chan error, 1)
			go serveOnce(ln, v, seen, errc)

			c := Dial(t, ln.Addr().String(), v)
			c.ConnectOK("dev-1", KeepAlive(5), Will("w/t", "gone", 1, 0), Login("u", "pw"), Persistent(60))
			if ack := c.Subscribe(9, "s/#", 1); ack.PacketID != 9 || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != 1 {
				t.Errorf("SUBACK %+v; want packet id 9, granted QoS 1", ack)
			}
			c.Send(Publish("p/t", "hi", 1, 3))
			if got := c.ExpectClosed(Timeout); len(got) != 0 {
				t.Errorf("ExpectClosed = %+v; want no packets before the close", got)
			}

			var got []*packets.Packet
			select {
			case got = <-seen:
			case err := <-errc:
				t.Fatal(err)
			}
			cn := got[0].Connect
			wantName := "MQTT"
			if v == packets.V31 {
				wantName = "MQIsdp"
			}
			if cn.ProtocolName != wantName || cn.ProtocolVersion != v || cn.ClientID != "dev-1" || cn.KeepAlive != 5 || cn.CleanStart ||
				cn.WillTopic != "w/t" || string(cn.WillPayload) != "gone" || cn.WillQoS != 1 || cn.Username != "u" || string(cn.Password) != "pw" {
				t.Errorf("server read CONNECT %+v; want the options given", cn)
			}
			if v == packets.V5 && (!got[0].Properties.SessionExpirySet || got[0].Properties.SessionExpiry != 60) {
				t.Errorf("v5 CONNECT properties %+v; want Session Expiry 60", got[0].Properties)
			}
			if s := got[1].Subscriptions; len(s) != 1 || s[0].Filter != "s/#" || s[0].QoS != 1 {
				t.Errorf("server read SUBSCRIBE %+v; want s/# at QoS 1", s)
			}
			if p := got[2]; p.Topic != "p/t" || string(p.Payload) != "hi" || p.QoS != 1 || p.PacketID != 3 {
				t.Errorf("server read PUBLISH %+v; want p/t \"hi\" QoS 1 id 3", p)
			}
		})
	}
}

func TestEncodePanicsOnABadPacket(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("Encode of an AUTH in 3.1.1 did not panic")
		}
	}()
	Encode(packets.V311, &packets.Packet{Type: packets.AUTH})
}
