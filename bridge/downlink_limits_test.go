package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// runFront runs a real front end on 127.0.0.1:0 until the test ends.
func runFront(t *testing.T, mutate func(*mqttfront.Config)) *mqttfront.Server {
	t.Helper()
	cfg := mqttfront.DefaultConfig()
	cfg.Auth.AllowAnonymous = true
	cfg.Listeners.TCP.Address = "127.0.0.1:0"
	cfg.SysInterval = 0
	mutate(&cfg)
	srv, err := mqttfront.New(cfg, &testkit.Sink[*mqttfront.Message]{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Start(t, srv, srv.Ready())
	return srv
}

// TestDownlinkLimitsNotCommitted: when the front end refuses a downlink
// message for a byte limit (a session queue at max_session_queue_bytes, the
// retained store at max_retained_bytes), done gets the error carrying 0x97,
// so the consumer does not commit the record but retries it: nothing the
// bridge acknowledged to Kafka is lost.
func TestDownlinkLimitsNotCommitted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		retain bool
		want   error
	}{
		{"session queue bytes", false, mqttfront.ErrQueueFull},
		{"retained bytes", true, mqttfront.ErrRetainedQuota},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := runFront(t, func(c *mqttfront.Config) {
				c.MaxPacketSize = 4096
				c.MaxRetainedBytes = 4096
				c.MaxSessionQueueBytes = 4096
			})
			if !tc.retain {
				// An offline persistent session subscribed to the commands.
				o := mqtt.NewClientOptions().AddBroker("tcp://" + srv.Addr("tcp").String()).
					SetClientID("dl-offline").SetCleanSession(false).SetAutoReconnect(false)
				c := mqtt.NewClient(o)
				if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					t.Fatalf("connect: %v", tok.Error())
				}
				if tok := c.Subscribe("devices/+/commands", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					t.Fatalf("subscribe: %v", tok.Error())
				}
				c.Disconnect(100)
				for deadline := time.Now().Add(5 * time.Second); srv.Stats().SessionsOnline > 0; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("session still online")
					}
				}
			}
			rules, err := mapping.Compile(mapping.Config{Downlink: []mapping.DownlinkRule{{Name: "commands",
				KafkaTopics: []string{"iot.commands"}, MQTTTopic: "devices/{key}/commands", QoS: 1, Retain: tc.retain}}})
			if err != nil {
				t.Fatal(err)
			}
			var ptr atomic.Pointer[mapping.Rules]
			ptr.Store(rules)
			m := newMetrics()
			d := &downlink{rules: &ptr, front: srv, producer: &fakeProducer{}, log: zaptest.NewLogger(t), metrics: m}
			value := []byte(strings.Repeat("c", 1500))
			var errs []error
			for i := range 4 {
				// Retained: one topic per record; queued: all for one device.
				key := "d0"
				if tc.retain {
					key = fmt.Sprintf("d%d", i)
				}
				rec := &kafka.Message{Topic: "iot.commands", Offset: int64(i), Key: []byte(key), Value: value}
				d.Handle(context.Background(), rec, func(err error) { errs = append(errs, err) })
			}
			if len(errs) != 4 || errs[0] != nil || errs[1] != nil {
				t.Fatalf("done errors %v; want the first two nil", errs)
			}
			for i, err := range errs[2:] {
				if !errors.Is(err, tc.want) || packets.Code(err) != packets.QuotaExceeded {
					t.Errorf("record %d: done(%v); want %v carrying 0x97 (not committed, retried)", i+2, err, tc.want)
				}
			}
			var pm dto.Metric
			if err := m.downlinkDrops.WithLabelValues("publish_failed").Write(&pm); err != nil {
				t.Fatal(err)
			}
			if got := pm.GetCounter().GetValue(); got != 2 {
				t.Errorf("downlink_drops_total{reason=publish_failed} = %v; want 2", got)
			}
		})
	}
}
