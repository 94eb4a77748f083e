package mqttfront

import (
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// BenchmarkIdleConnection opens b.N real TCP connections that completed
// CONNECT and reports the server-side cost per idle connection:
// (HeapInuse + StackInuse) delta / N. The client side lives in the same
// process, so its sockets (net.TCPConn only, no buffers) are included;
// the figure is an upper bound.
func BenchmarkIdleConnection(b *testing.B) {
	n := b.N
	if n < 500 {
		n = 500
	}
	ts := runServer(b, testConfig(""), nil)
	connect, _ := packets.Encode(nil, &packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{
		ProtocolName: "MQTT", ProtocolVersion: packets.V311, CleanStart: true, KeepAlive: 0}}, packets.V311)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, n)
	buf := make([]byte, 4)
	b.ResetTimer()
	for i := range n {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(connect); err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Read(buf); err != nil || buf[0] != 0x20 {
			b.Fatalf("conn %d: CONNACK % x, %v", i, buf, err)
		}
		conns = append(conns, nc)
	}
	b.StopTimer()
	waitFor(b, 10*time.Second, "all connections counted", func() bool { return ts.Stats().ConnectionsCurrent == int64(n) })
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / float64(n)
	b.ReportMetric(per, "bytes/conn")
	b.ReportMetric(float64(runtime.NumGoroutine())/float64(n), "goroutines/conn")
	for _, c := range conns {
		_ = c.Close()
	}
	ts.stop()
}

// BenchmarkPublishQoS1 is the uplink hot path: QoS 1 PUBLISH over TCP,
// through the broker, to an immediately confirming sink, PUBACK back.
// One client keeps a window of 64 publishes outstanding.
func BenchmarkPublishQoS1(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			cfg := testConfig("")
			ts := runServer(b, cfg, nopSink{})
			w := mqttwire.Dial(b, ts.addr, packets.V311)
			w.Connect("bench")
			payload := make([]byte, size)
			const window = 64
			var frames [][]byte
			for i := range window {
				f, _ := packets.Encode(nil, &packets.Packet{Type: packets.PUBLISH, QoS: 1, PacketID: uint16(i + 1), Topic: "bench/t", Payload: payload}, packets.V311)
				frames = append(frames, f)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			sent, acked := 0, 0
			done := make(chan error, 1)
			go func() {
				for acked < b.N {
					p, err := w.Read(10 * time.Second)
					if err != nil {
						done <- err
						return
					}
					if p.Type == packets.PUBACK {
						acked++
					}
				}
				done <- nil
			}()
			var out []byte
			for sent < b.N {
				out = out[:0]
				for k := 0; k < window && sent < b.N; k++ {
					out = append(out, frames[sent%window]...)
					sent++
				}
				if _, err := w.NetConn().Write(out); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// nopSink confirms at once without recording.
type nopSink struct{}

func (nopSink) Submit(_ *Message, done func(error)) {
	if done != nil {
		done(nil)
	}
}

// BenchmarkRouteQoS0 measures routing one message to 10 online
// subscribers over TCP (each delivery queued to its writer).
func BenchmarkRouteQoS0(b *testing.B) {
	benchRoute(b, testConfig(""))
}

// BenchmarkRouteQoS0ACL is BenchmarkRouteQoS0 with ACL rules on, so every
// delivery passes the per-delivery check (recvacl.go): five rules, the
// deciding one last and with %c; "cached" is the default cache, "uncached"
// asks the ACL on every delivery (acl_cache_max_entries 0).
func BenchmarkRouteQoS0ACL(b *testing.B) {
	rules := auth.ACLConfig{NoMatch: "deny", Rules: []auth.ACLRule{
		{Permission: "deny", Action: "all", Username: "bob", Topics: []string{"secret/#"}},
		{Permission: "deny", Action: "subscribe", Topics: []string{"admin/#"}},
		{Permission: "allow", Action: "publish", Topics: []string{"fan/#"}},
		{Permission: "allow", Action: "subscribe", Topics: []string{"devices/%c/#"}},
		{Permission: "allow", Action: "subscribe", Topics: []string{"fan/%c/#", "fan/#"}},
	}}
	for _, bc := range []struct {
		name    string
		entries int
	}{{"cached", DefaultConfig().ACLCacheMaxEntries}, {"uncached", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testConfig("")
			cfg.Auth.ACL = rules
			cfg.ACLCacheMaxEntries = bc.entries
			benchRoute(b, cfg)
		})
	}
}

func benchRoute(b *testing.B, cfg Config) {
	ts := runServer(b, cfg, nopSink{})
	var subs []*mqttwire.Conn
	for i := range 10 {
		w := mqttwire.Dial(b, ts.addr, packets.V311)
		w.Connect("s" + strconv.Itoa(i))
		w.Subscribe(1, "fan/#", 0)
		subs = append(subs, w)
	}
	stop := make(chan struct{})
	var drained []chan struct{}
	for _, w := range subs {
		d := make(chan struct{})
		drained = append(drained, d)
		go func() {
			defer close(d)
			buf := make([]byte, 64<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = w.NetConn().SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				_, _ = w.NetConn().Read(buf)
			}
		}()
	}
	m := &Message{Topic: "fan/t", Payload: make([]byte, 64)}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ts.Publish(m, nil)
	}
	b.StopTimer()
	close(stop)
	for _, d := range drained {
		<-d
	}
}
