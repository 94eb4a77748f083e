package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/cmd/mqttbench/benchkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// TestBenchSmoke runs short versions of the benchmark's S2 (QoS 1, 20
// connections, 32 in flight, 128 B) and S3 (QoS 0 firehose, 10 connections)
// with mqttbench's library against an in-process bridge and the shared
// Kafka. It proves only that the harness works end to end: records land and
// are accounted, QoS 1 loses nothing, and the JSON summary parses. Speed is
// the benchmark's business (integration/bench), not a timed test's.
func TestBenchSmoke(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	topic := uniq(t, "bench")
	testenv.CreateTopic(t, bootstrap, topic, 6)
	cfg := testConfig(t, bootstrap)
	cfg.Mapping.Uplink = []mapping.UplinkRule{
		{Name: "bench", MQTTTopic: "bench/{device}", KafkaTopic: topic, Key: "{device}"},
	}
	b := startBridge(t, cfg)

	tests := []struct {
		name      string
		qos       byte
		conns     int
		inflight  int
		lossless  bool
		drainIdle time.Duration
	}{
		{"S2 QoS 1", 1, 20, 32, true, kafkaWait},
		{"S3 QoS 0 firehose", 0, 10, 32, false, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reader, err := benchkit.OpenKafkaReader([]string{bootstrap}, topic)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*kafkaWait)
			defer cancel()
			sum, err := benchkit.RunPub(ctx, benchkit.PubConfig{
				Addr: b.addr, Conns: tc.conns, QoS: tc.qos, Size: 128, Inflight: tc.inflight,
				Topic: "bench/d%d", ClientPrefix: uniq(t, "c") + "-",
				Duration: 3 * time.Second, Warmup: 500 * time.Millisecond,
			}, reader, tc.drainIdle, nil)
			if err != nil {
				t.Fatalf("RunPub: %v", err)
			}
			path := filepath.Join(t.TempDir(), "summary.json")
			if err := sum.WriteJSONFile(path); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var back benchkit.Summary
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatalf("summary JSON does not parse: %v\n%s", err, raw)
			}
			if back.Client == nil || back.Kafka == nil {
				t.Fatalf("summary JSON lacks client or kafka:\n%s", raw)
			}
			k, c := back.Kafka, back.Client
			t.Logf("%s: sent %d (%.0f/s), acked %d, puback p99 %.1fms; landed %d, e2e p99 %.1fms, lost %d, dups %d, disorder %d, errors %v",
				tc.name, c.Sent, c.SentPerSec, c.Acked, c.Puback.P99, k.Landed, k.Latency.P99, k.Accounting.Lost, k.Accounting.Duplicates, k.Accounting.OrderViolations, c.Errors)
			if k.Landed == 0 || k.Accounting.Seen == 0 {
				t.Errorf("nothing landed in Kafka")
			}
			if tc.lossless {
				if k.Accounting.Expected == 0 || k.Accounting.Lost != 0 {
					t.Errorf("QoS 1: expected %d (acked), lost %d (%v); want >0 and 0", k.Accounting.Expected, k.Accounting.Lost, k.Accounting.LossyClients)
				}
				if k.Accounting.OrderViolations != 0 {
					t.Errorf("QoS 1: %d order violations", k.Accounting.OrderViolations)
				}
			}
		})
	}
}
