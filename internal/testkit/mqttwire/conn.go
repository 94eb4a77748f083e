package mqttwire

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// Timeout bounds a write (Send, SendRaw) and a wait for an expected packet
// (Expect, and so Connect and Subscribe).
const Timeout = 10 * time.Second

// Conn is one raw MQTT connection of a test. Its methods fail the test
// (Fatalf), so call them from the test's goroutine only.
type Conn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	v  packets.Version
}

// Dial connects to addr (host:port of a TCP listener) for a client of
// protocol version v, or fails the test. The connection is closed at the
// test's end.
func Dial(t testing.TB, addr string, v packets.Version) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &Conn{t: t, nc: nc, br: bufio.NewReader(nc), v: v}
}

// NetConn is the connection under c, for a test that tunes the socket or
// writes and reads in a hot loop (a benchmark).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the network connection at once, without DISCONNECT (an
// abrupt drop: the will is published).
func (c *Conn) Close() { _ = c.nc.Close() }

// Send frames ps with the codec in c's version and writes them in one write.
func (c *Conn) Send(ps ...*packets.Packet) {
	c.t.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = packets.Encode(b, p, c.v); err != nil {
			c.t.Fatalf("encode %v: %v", p.Type, err)
		}
	}
	c.SendRaw(b)
}

// SendRaw writes b as it is: a hand-written (malformed) frame, or frames
// the test encoded itself.
func (c *Conn) SendRaw(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Read decodes the next packet in c's version within timeout, or returns
// the error (a timeout, io.EOF once the server closed, a decode error).
func (c *Conn) Read(timeout time.Duration) (*packets.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	return packets.Read(c.br, c.v, 0)
}

// ReadFrame reads the next packet within timeout without decoding it.
func (c *Conn) ReadFrame(timeout time.Duration) (Frame, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	return ReadFrame(c.br)
}

// Expect reads the next packet within Timeout and requires its type.
func (c *Conn) Expect(typ packets.Type) *packets.Packet {
	c.t.Helper()
	p, err := c.Read(Timeout)
	if err != nil {
		c.t.Fatalf("expecting %v: %v", typ, err)
	}
	if p.Type != typ {
		c.t.Fatalf("got %v (%+v); want %v", p.Type, p, typ)
	}
	return p
}

// ExpectClosed requires the server to close the connection within
// timeout, and returns the packets it sent before. Any read error but a
// timeout counts as the close.
func (c *Conn) ExpectClosed(timeout time.Duration) []*packets.Packet {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var got []*packets.Packet
	for {
		p, err := c.Read(time.Until(deadline))
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("connection still open after %v (got %d packets)", timeout, len(got))
			}
			return got
		}
		got = append(got, p)
	}
}

// ExpectNothing requires that no packet arrives within d.
func (c *Conn) ExpectNothing(d time.Duration) {
	c.t.Helper()
	if p, err := c.Read(d); err == nil {
		c.t.Fatalf("unexpected %v %+v", p.Type, p)
	}
}

// Connect sends the CONNECT of ConnectPacket and returns the CONNACK,
// whatever its code.
func (c *Conn) Connect(id string, opts ...ConnOpt) *packets.Packet {
	c.t.Helper()
	c.Send(ConnectPacket(c.v, id, opts...))
	return c.Expect(packets.CONNACK)
}

// ConnectOK is Connect requiring success (return or reason code 0).
func (c *Conn) ConnectOK(id string, opts ...ConnOpt) *packets.Packet {
	c.t.Helper()
	ack := c.Connect(id, opts...)
	if ack.ReasonCode != 0 {
		c.t.Fatalf("CONNACK %+v; want success", ack)
	}
	return ack
}

// Subscribe subscribes to one filter with packet id id and returns the
// SUBACK, whatever its codes.
func (c *Conn) Subscribe(id uint16, filter string, qos byte) *packets.Packet {
	c.t.Helper()
	c.Send(&packets.Packet{Type: packets.SUBSCRIBE, PacketID: id, Subscriptions: []packets.Subscription{{Filter: filter, QoS: qos}}})
	return c.Expect(packets.SUBACK)
}
