package mqttfront

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// Tests that what a client sends cannot hold the broker's memory beyond
// what the broker means to keep (issue 10, item 3). Each measures the live
// heap after a forced GC; the bounds are generous (several times what the
// fixed code keeps) but far below what the unfixed code kept.

// liveHeap is the live heap after two forced collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// heapGrowth fails when the live heap grew by more than limit since base.
func heapGrowth(t *testing.T, base uint64, limit uint64, what string) {
	t.Helper()
	now := liveHeap()
	grown := int64(now) - int64(base)
	t.Logf("%s: live heap %d -> %d bytes (%+.1f MB)", what, base, now, float64(grown)/1e6)
	if grown > int64(limit) {
		t.Errorf("%s: live heap grew by %.1f MB; want < %.1f MB", what, float64(grown)/1e6, float64(limit)/1e6)
	}
}

// bigUserProps returns about n bytes of v5 user properties.
func bigUserProps(n int) []packets.UserProperty {
	const chunk = 60000
	var ups []packets.UserProperty
	for i := 0; n > 0; i++ {
		v := strings.Repeat(string(rune('a'+i%26)), min(n, chunk))
		ups = append(ups, packets.UserProperty{Key: fmt.Sprintf("k%d", i), Value: v})
		n -= len(v)
	}
	return ups
}

// refuseAll refuses every CONNECT as a wrong password would.
type refuseAll struct{}

func (refuseAll) Authenticate(context.Context, auth.Credentials) (auth.Identity, error) {
	return auth.Identity{}, auth.ErrBadCredentials
}

// acceptAll accepts every CONNECT with the user name it carries.
type acceptAll struct{}

func (acceptAll) Authenticate(_ context.Context, c auth.Credentials) (auth.Identity, error) {
	return auth.Identity{Username: c.Username}, nil
}

// discardSink confirms and forgets every message.
type discardSink struct{}

func (discardSink) Submit(_ *Message, done func(error)) {
	if done != nil {
		done(nil)
	}
}

// TestRefusedConnectPinsNothing: the client ids of refused CONNECTs stay in
// the log limiter's LRU; they must not keep each CONNECT's whole body
// (here about 1 MB of user properties) alive.
func TestRefusedConnectPinsNothing(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxPacketSize = 2 << 20
	cfg.MaxConnectSize = 2 << 20 // the 1 MB CONNECT must be read
	ts := runServer(t, cfg, discardSink{})
	ts.SetAuth(refuseAll{}, nil)
	base := liveHeap()
	props := bigUserProps(1 << 20)
	const n = 100
	for i := range n {
		w := mqttwire.Dial(t, ts.addr, packets.V5)
		ack := w.Connect(fmt.Sprintf("pin-%d", i), func(p *packets.Packet) { p.Properties.User = props })
		if ack.ReasonCode != packets.BadUserNameOrPassword {
			t.Fatalf("CONNACK %v; want 0x86", ack.ReasonCode)
		}
		w.ExpectClosed(5 * time.Second)
		w.Close()
	}
	waitFor(t, 5*time.Second, "refused connections closed", func() bool { return ts.Stats().ConnectionsCurrent == 0 })
	heapGrowth(t, base, 20<<20, fmt.Sprintf("%d refused CONNECTs of 1 MB", n))
}

// TestTopicAliasDoesNotPinPayload: an inbound topic alias is kept for the
// connection's life; it must not keep the 1 MB PUBLISH that set it.
func TestTopicAliasDoesNotPinPayload(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxPacketSize = 2 << 20
	ts := runServer(t, cfg, discardSink{})
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("aliases")
	base := liveHeap()
	payload := make([]byte, 1<<20)
	for a := 1; a <= cfg.TopicAliasMaximum; a++ {
		p := mqttwire.Publish(fmt.Sprintf("alias/%d", a), "", 0, 0)
		p.Payload = payload
		p.Properties.TopicAlias = uint16(a)
		w.Send(p)
	}
	w.Send(&packets.Packet{Type: packets.PINGREQ})
	w.Expect(packets.PINGRESP)
	heapGrowth(t, base, 20<<20, fmt.Sprintf("%d aliases set by 1 MB PUBLISHes", cfg.TopicAliasMaximum))
	// The aliases still work.
	p := mqttwire.Publish("", "x", 1, 1)
	p.Properties.TopicAlias = 7
	w.Send(p)
	if ack := w.Expect(packets.PUBACK); ack.ReasonCode != packets.Success {
		t.Errorf("PUBACK %v for a known alias; want success", ack.ReasonCode)
	}
}

// TestSubscriptionFilterDoesNotPinPacket: a subscription filter lives as
// long as the session; it must not keep its SUBSCRIBE (1 MB of user
// properties here) alive.
func TestSubscriptionFilterDoesNotPinPacket(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxPacketSize = 2 << 20
	ts := runServer(t, cfg, discardSink{})
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	w.Connect("filters")
	base := liveHeap()
	props := bigUserProps(1 << 20)
	const n = 40
	for i := range n {
		p := &packets.Packet{Type: packets.SUBSCRIBE, PacketID: uint16(i + 1),
			Subscriptions: []packets.Subscription{{Filter: fmt.Sprintf("f/%d/#", i)}}}
		p.Properties.User = props
		w.Send(p)
		w.Expect(packets.SUBACK)
	}
	heapGrowth(t, base, 15<<20, fmt.Sprintf("%d subscriptions from 1 MB SUBSCRIBEs", n))
	if got := ts.Stats().Subscriptions; got != n {
		t.Errorf("%d subscriptions; want %d", got, n)
	}
}

// TestWillDoesNotPinConnect: a will (and the session's client id and
// username) lives as long as the connection; it must not keep the CONNECT
// (1 MB of user properties here) alive.
func TestWillDoesNotPinConnect(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxPacketSize = 2 << 20
	cfg.MaxConnectSize = 2 << 20 // the 1 MB CONNECT must be read
	ts := runServer(t, cfg, discardSink{})
	ts.SetAuth(acceptAll{}, nil)
	base := liveHeap()
	props := bigUserProps(1 << 20)
	const n = 30
	for i := range n {
		w := mqttwire.Dial(t, ts.addr, packets.V5)
		ack := w.Connect(fmt.Sprintf("will-%d", i), mqttwire.Will("will/t", "gone", 1, 0), func(p *packets.Packet) {
			p.Properties.User = props
			p.Connect.UsernameFlag, p.Connect.Username = true, "user"
			p.Connect.WillProperties.User = []packets.UserProperty{{Key: "k", Value: "v"}}
			p.Connect.WillProperties.CorrelationData = []byte("corr")
		})
		if ack.ReasonCode != packets.Success {
			t.Fatalf("CONNACK %v", ack.ReasonCode)
		}
	}
	heapGrowth(t, base, 15<<20, fmt.Sprintf("%d connections with a will from 1 MB CONNECTs", n))
}

// TestRefusedConnectLogKeyBounded: the log limiter remembers up to 10,000
// client ids of refused CONNECTs; a 60 KB client id must not be kept
// whole (10,000 of them would be 600 MB).
func TestRefusedConnectLogKeyBounded(t *testing.T) {
	// Lines are written (so the limiter sees them) but not kept, as the
	// test logger would keep every 60 KB line.
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.DebugLevel))
	ts := runServerLog(t, testConfig(""), discardSink{}, log)
	ts.SetAuth(refuseAll{}, nil)
	base := liveHeap()
	const n = 300
	for i := range n {
		w := mqttwire.Dial(t, ts.addr, packets.V311)
		id := fmt.Sprintf("%05d", i) + strings.Repeat("x", 60000)
		if ack := w.Connect(id); ack.ReasonCode != packets.V3BadUsernameOrPassword {
			t.Fatalf("CONNACK %v; want 0x04", ack.ReasonCode)
		}
		w.ExpectClosed(5 * time.Second)
		w.Close()
	}
	waitFor(t, 5*time.Second, "refused connections closed", func() bool { return ts.Stats().ConnectionsCurrent == 0 })
	heapGrowth(t, base, 4<<20, fmt.Sprintf("%d refused CONNECTs with 60 KB client ids", n))
	if got := ts.logRate.lru.Len(); got < n {
		t.Errorf("log limiter holds %d keys; want one per client id (%d)", got, n)
	}
}

// announceSockets opens n sockets and sends on each what prefix returns:
// a header announcing a large packet and a few bytes of it. It waits until
// the server has read them all.
func announceSockets(t *testing.T, ts *testSrv, n int, prefix func(i int) []byte) {
	t.Helper()
	want := ts.Stats().BytesIn
	for i := range n {
		b := prefix(i)
		nc, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.Close() })
		if _, err := nc.Write(b); err != nil {
			t.Fatal(err)
		}
		want += uint64(len(b))
	}
	waitFor(t, 10*time.Second, "the server to read every header", func() bool { return ts.Stats().BytesIn >= want })
}

// TestAnnouncedConnectNotAllocated: sockets that announce a 1 MiB CONNECT
// and send 10 bytes of it must cost what they sent, not what they
// announced (issue 10: 1,000 such sockets raised the heap to 1 GB). With
// the default max_connect_size they are closed at once; here it is raised
// so that the growing buffer is what is tested.
func TestAnnouncedConnectNotAllocated(t *testing.T) {
	cfg := testConfig("")
	cfg.MaxPacketSize = 2 << 20
	cfg.MaxConnectSize = 2 << 20 // the 1 MB CONNECT must be read
	ts := runServer(t, cfg, discardSink{})
	base := liveHeap()
	const n = 200
	announceSockets(t, ts, n, func(int) []byte {
		b := appendRemLen([]byte{0x10}, 1<<20)
		return append(b, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60) // protocol name, level, flags, keepalive
	})
	heapGrowth(t, base, 50<<20, fmt.Sprintf("%d sockets announcing a 1 MiB CONNECT", n))
	if got := ts.Stats().ConnectionsCurrent; got != n {
		t.Errorf("%d connections open; want %d (still within connect_timeout)", got, n)
	}
}

// TestAnnouncedPublishNotAllocated: the same after CONNECT, for a PUBLISH
// announcing 1 MiB (within max_packet_size) of which 5 bytes are sent.
func TestAnnouncedPublishNotAllocated(t *testing.T) {
	ts := runServer(t, testConfig(""), discardSink{})
	base := liveHeap()
	const n = 200
	connect, err := packets.Encode(nil, &packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{
		ProtocolName: "MQTT", ProtocolVersion: packets.V311, CleanStart: true, KeepAlive: 60}}, packets.V311)
	if err != nil {
		t.Fatal(err)
	}
	announceSockets(t, ts, n, func(int) []byte {
		b := append([]byte(nil), connect...)
		b = appendRemLen(append(b, 0x30), 1<<20-16)
		return append(b, 0, 3, 'a', '/', 'b')
	})
	waitFor(t, 5*time.Second, "every client connected", func() bool { return ts.Stats().Connects["success"] == n })
	heapGrowth(t, base, 50<<20, fmt.Sprintf("%d clients announcing a 1 MiB PUBLISH", n))
}

// appendRemLen appends a remaining length (variable byte integer).
func appendRemLen(b []byte, n int) []byte {
	for {
		d := byte(n & 0x7F)
		n >>= 7
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// TestMaxConnectSize: before authentication a client may send only a
// small CONNECT (max_connect_size, default 64 KiB), however large
// max_packet_size is; a larger one closes the socket without CONNACK (the
// version is not known yet) and counts packet_too_large. The limit does
// not apply after CONNECT.
func TestMaxConnectSize(t *testing.T) {
	ts := runServer(t, testConfig(""), discardSink{})
	for _, v := range []packets.Version{packets.V311, packets.V5} {
		w := mqttwire.Dial(t, ts.addr, v)
		p := &packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{ProtocolName: "MQTT", ProtocolVersion: v,
			CleanStart: true, ClientID: "big" + strings.Repeat("c", 2000), WillFlag: true, WillTopic: "w", WillPayload: make([]byte, 65000)}}
		w.Send(p)
		if got := w.ExpectClosed(5 * time.Second); len(got) != 0 {
			t.Errorf("v%d: a 67 KB CONNECT got %v; want the connection closed without CONNACK", v, got[0].Type)
		}
	}
	// The count follows the close (the connection's cleanup), so poll.
	waitFor(t, 5*time.Second, "disconnects packet_too_large = 2", func() bool { return ts.Stats().Disconnects["packet_too_large"] == 2 })
	// Under the limit: connected; then a 100 KB PUBLISH is fine.
	w := mqttwire.Dial(t, ts.addr, packets.V5)
	if ack := w.Connect("small", mqttwire.Will("w", strings.Repeat("p", 60000), 0, 0)); ack.ReasonCode != packets.Success {
		t.Fatalf("CONNACK %v for a 60 KB CONNECT; want success", ack.ReasonCode)
	}
	p := mqttwire.Publish("big/publish", strings.Repeat("x", 100000), 1, 1)
	w.Send(p)
	if ack := w.Expect(packets.PUBACK); ack.ReasonCode != packets.Success {
		t.Errorf("PUBACK %v for a 100 KB PUBLISH; want success", ack.ReasonCode)
	}
}
