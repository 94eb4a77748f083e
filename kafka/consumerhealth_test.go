package kafka

import (
	"context"
	"testing"

	"github.com/IBM/sarama"
	"go.uber.org/zap/zaptest"
)

type nopHandler struct{}

func (nopHandler) Handle(_ context.Context, _ *Message, done func(error)) { done(nil) }

// TestConsumerHealth: before joining the consumer holds nothing and has
// no error; each error the group reports is counted by kind and the last
// one kept.
func TestConsumerHealth(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BootstrapServers = []string{"127.0.0.1:1"}
	c, err := NewConsumer(cfg, []string{"cmd"}, nopHandler{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Health()
	if h.Joined || len(h.Partitions) != 0 || h.LastError != "" || h.Errors[KindUnreachable] != 0 {
		t.Fatalf("Health of a new consumer = %+v; want nothing joined, held or failed", h)
	}
	c.health.noteError(sarama.ErrOutOfBrokers)
	c.health.noteError(sarama.ErrTopicAuthorizationFailed)
	h = c.Health()
	if h.Errors[KindUnreachable] != 1 || h.Errors[KindNotAuthorized] != 1 || h.LastErrorKind != KindNotAuthorized || h.LastErrorAt.IsZero() {
		t.Errorf("Health = %+v; want 1 unreachable, 1 not_authorized, the last one kept", h)
	}
}
