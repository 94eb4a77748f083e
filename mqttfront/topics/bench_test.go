package topics

import (
	"fmt"
	"testing"
)

// benchIndex builds an index of 100,000 subscriptions shaped like a fleet:
//   - 30,000 devices each subscribed to devices/{n}/commands and
//     devices/{n}/config (60,000 exact filters);
//   - 20,000 site dashboards on sites/{s}/+/temperature (one '+' level);
//   - 19,980 per-device "#" subscriptions devices/{n}/# (tooling, loggers);
//   - 10 backend clients on devices/+/telemetry and 10 in a share group
//     $share/ingest/devices/+/telemetry (the ingest path).
func benchIndex(b *testing.B) *Index {
	b.Helper()
	ix := NewIndex()
	for n := range 30000 {
		id := fmt.Sprintf("dev-%d", n)
		ix.Add(Sub{ClientID: id, Filter: fmt.Sprintf("devices/%d/commands", n), QoS: 1})
		ix.Add(Sub{ClientID: id, Filter: fmt.Sprintf("devices/%d/config", n), QoS: 1})
	}
	for s := range 20000 {
		ix.Add(Sub{ClientID: fmt.Sprintf("dash-%d", s), Filter: fmt.Sprintf("sites/%d/+/temperature", s)})
	}
	for n := range 19980 {
		ix.Add(Sub{ClientID: fmt.Sprintf("tool-%d", n), Filter: fmt.Sprintf("devices/%d/#", n)})
	}
	for i := range 10 {
		ix.Add(Sub{ClientID: fmt.Sprintf("be-%d", i), Filter: "devices/+/telemetry"})
		ix.Add(Sub{ClientID: fmt.Sprintf("ing-%d", i), Filter: "$share/ingest/devices/+/telemetry"})
	}
	if ix.Len() != 100000 {
		b.Fatalf("Len = %d", ix.Len())
	}
	return ix
}

func BenchmarkIndexMatch(b *testing.B) {
	ix := benchIndex(b)
	cases := []struct {
		name, topic string
		want        int
	}{
		{"telemetry", "devices/12345/telemetry", 21}, // 10 + 10 shared + devices/12345/#
		{"command", "devices/29999/commands", 1},
		{"site", "sites/777/room4/temperature", 1},
		{"miss", "factory/line1/press", 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]Sub, 0, 64)
			for b.Loop() {
				dst = ix.Match(c.topic, dst[:0])
			}
			if len(dst) != c.want {
				b.Fatalf("Match(%q) = %d subs; want %d", c.topic, len(dst), c.want)
			}
		})
	}
}

func BenchmarkIndexMatchParallel(b *testing.B) {
	ix := benchIndex(b)
	topics := make([]string, 1024)
	for i := range topics {
		topics[i] = fmt.Sprintf("devices/%d/telemetry", i*29)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]Sub, 0, 64)
		i := 0
		for pb.Next() {
			dst = ix.Match(topics[i%len(topics)], dst[:0])
			i++
		}
	})
}

func BenchmarkIndexAddRemove(b *testing.B) {
	ix := benchIndex(b)
	b.ReportAllocs()
	for b.Loop() {
		ix.Add(Sub{ClientID: "x", Filter: "devices/42/extra/+"})
		ix.Remove("x", "devices/42/extra/+")
	}
}

// benchRetained holds 100,000 retained topics: 25,000 devices with four
// status topics each, devices/{n}/{status,config,firmware,location}.
func benchRetained(b *testing.B) *Retained[int] {
	b.Helper()
	r := NewRetained[int]()
	for n := range 25000 {
		for _, s := range []string{"status", "config", "firmware", "location"} {
			r.Set(fmt.Sprintf("devices/%d/%s", n, s), n)
		}
	}
	if r.Len() != 100000 {
		b.Fatalf("Len = %d", r.Len())
	}
	return r
}

func BenchmarkRetainedMatch(b *testing.B) {
	r := benchRetained(b)
	cases := []struct {
		name, filter string
		want         int
	}{
		{"exact", "devices/4242/status", 1},
		{"one-device", "devices/4242/#", 4},
		{"plus-status", "devices/+/status", 25000},
		{"all", "#", 100000},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n = 0
				r.Match(c.filter, func(string, int) bool { n++; return true })
			}
			if n != c.want {
				b.Fatalf("Match(%q) = %d; want %d", c.filter, n, c.want)
			}
		})
	}
}

func BenchmarkRetainedGet(b *testing.B) {
	r := benchRetained(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.Get("devices/4242/status"); !ok {
			b.Fatal("missing")
		}
	}
}
