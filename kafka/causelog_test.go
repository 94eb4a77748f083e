package kafka

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/IBM/sarama/mocks"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

func TestCauseLog(t *testing.T) {
	var c causeLog
	for i, tt := range []struct {
		kind string // "" = a success
		want zapcore.Level
	}{
		{KindAuthentication, zapcore.WarnLevel}, // first failure: named
		{KindAuthentication, zapcore.DebugLevel},
		{KindAuthentication, zapcore.DebugLevel},
		{KindUnreachable, zapcore.WarnLevel}, // the cause changed
		{KindUnreachable, zapcore.DebugLevel},
		{"", 0},
		{KindUnreachable, zapcore.WarnLevel}, // a new outage after a success
	} {
		if tt.kind == "" {
			c.ok()
			continue
		}
		if got := c.level(tt.kind); got != tt.want {
			t.Errorf("step %d: level(%s) = %v; want %v", i, tt.kind, got, tt.want)
		}
	}
}

// TestDialNamesTheCauseOnce: a producer whose connection keeps failing for
// the same reason (a wrong password) says so once at warn, not at every
// retry (issue 15: failures name their cause once).
func TestDialNamesTheCauseOnce(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := DefaultConfig()
	cfg.Producer.Producers = 1 // the mock is one sarama producer
	p, err := NewProducer(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	mp := mocks.NewAsyncProducer(t, nil)
	p.w.open = func(*sarama.Config) (sarama.AsyncProducer, func() error, error) {
		if attempts.Add(1) <= 3 {
			return nil, nil, errors.Join(sarama.ErrOutOfBrokers, sarama.ErrSASLAuthenticationFailed)
		}
		return mp, func() error { return nil }, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	testkit.WaitFor(t, 20*time.Second, "the producer to connect after 3 failures", p.Connected)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	retries := logs.FilterMessage("kafka unreachable, retrying")
	warns := retries.FilterLevelExact(zapcore.WarnLevel).All()
	if retries.Len() != 3 || len(warns) != 1 {
		t.Fatalf("%d retry lines, %d at warn; want 3 and 1 (the cause named once)", retries.Len(), len(warns))
	}
	if k := warns[0].ContextMap()["kind"]; k != KindAuthentication {
		t.Errorf("the warn line names kind %v; want %s", k, KindAuthentication)
	}
}
