package bridge

import (
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

// TestPartStates: the spool's and the downlink's state and reason from
// their accessors.
func TestPartStates(t *testing.T) {
	for _, tc := range []struct {
		state   string
		kafkaUp bool
		want    partHealth
	}{
		{kafka.StateDirect, true, partHealth{Up: true, State: "direct", Reason: "ok"}},
		{kafka.StateSpilling, false, partHealth{Up: true, State: "spilling", Reason: "kafka_down"}},
		{kafka.StateSpilling, true, partHealth{Up: true, State: "spilling", Reason: "catching_up"}},
		{kafka.StateDraining, true, partHealth{Up: true, State: "draining", Reason: "draining"}},
		{kafka.StateBlocked, false, partHealth{Up: false, State: "blocked", Reason: "quota_full"}},
	} {
		got := spoolPart(kafka.ProducerStats{State: tc.state}, tc.kafkaUp)
		if got.Up != tc.want.Up || got.State != tc.want.State || got.Reason != tc.want.Reason || got.Part != "spool" {
			t.Errorf("spoolPart(%s, kafka up %v) = %+v; want %+v", tc.state, tc.kafkaUp, got, tc.want)
		}
	}

	now := time.Now()
	for _, tc := range []struct {
		name string
		h    kafka.ConsumerHealth
		want partHealth
	}{
		{"new", kafka.ConsumerHealth{}, partHealth{State: "starting", Reason: "starting"}},
		{"holding", kafka.ConsumerHealth{Joined: true, Partitions: []string{"cmd/0"}, LastErrorKind: "unreachable", LastErrorAt: now}, partHealth{Up: true, State: "consuming", Reason: "ok"}},
		{"recent error, nothing held", kafka.ConsumerHealth{Joined: true, LastErrorKind: "not_authorized", LastError: "x", LastErrorAt: now.Add(-time.Second)}, partHealth{State: "failing", Reason: "not_authorized"}},
		{"old error, idle member", kafka.ConsumerHealth{Joined: true, LastErrorKind: "unreachable", LastErrorAt: now.Add(-time.Minute)}, partHealth{Up: true, State: "unassigned", Reason: "no_partitions"}},
	} {
		got := downlinkPart(tc.h, now)
		if got.Up != tc.want.Up || got.State != tc.want.State || got.Reason != tc.want.Reason {
			t.Errorf("%s: downlinkPart = %+v; want %+v", tc.name, got, tc.want)
		}
	}
}
