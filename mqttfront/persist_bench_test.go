package mqttfront

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// BenchmarkSubscribeLargeSession measures SUBSCRIBE number N+1 on a
// persistent session (data_dir set, fsync on) that holds N subscriptions,
// end to end over TCP: SUBSCRIBE + PINGREQ until the PINGRESP, which comes
// after the store write. heap-MB is the live heap after a GC once the N
// subscriptions are in place (mostly the topic index), heap-sys-MB what
// the heap took from the OS to get there (its peak, garbage included).
func BenchmarkSubscribeLargeSession(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			cfg := testConfig(b.TempDir())
			cfg.MaxSubscriptions = 0 // up to 100,000 on one session
			ts := runServer(b, cfg, nil)
			w := mqttwire.Dial(b, ts.addr, packets.V5)
			w.Connect("many-subs", mqttwire.Persistent(3600))
			pid := uint16(0)
			subscribe := func(filters ...string) {
				pid++
				p := &packets.Packet{Type: packets.SUBSCRIBE, PacketID: pid}
				for _, f := range filters {
					p.Subscriptions = append(p.Subscriptions, packets.Subscription{Filter: f, QoS: 1})
				}
				w.Send(p, &packets.Packet{Type: packets.PINGREQ})
				w.Expect(packets.SUBACK)
				w.Expect(packets.PINGRESP)
			}
			for base := 0; base < n; base += 1000 {
				fs := make([]string, 0, 1000)
				for i := base; i < base+1000; i++ {
					fs = append(fs, fmt.Sprintf("fleet/site-%06d/device/+/telemetry/#", i))
				}
				subscribe(fs...)
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap, sys := float64(ms.HeapInuse)/(1<<20), float64(ms.HeapSys)/(1<<20)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				subscribe(fmt.Sprintf("extra/%d/#", i))
				i++
			}
			// After the loop: b.Loop's first reset drops user metrics.
			b.ReportMetric(heap, "heap-MB")
			b.ReportMetric(sys, "heap-sys-MB") // what the heap took from the OS: its peak, setup included
		})
	}
}
