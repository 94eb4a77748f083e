package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/IBM/sarama"
)

func TestErrorKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"broker too large", sarama.ErrMessageSizeTooLarge, KindTooLarge},
		{"client too large", sarama.ConfigurationError("Attempt to produce message larger than configured Producer.MaxMessageBytes: 2 > 1"), KindTooLarge},
		{"invalid topic", sarama.ErrInvalidTopic, KindInvalidTopic},
		{"unknown topic", sarama.ErrUnknownTopicOrPartition, KindInvalidTopic},
		{"topic authz", sarama.ErrTopicAuthorizationFailed, KindNotAuthorized},
		{"sasl", sarama.ErrSASLAuthenticationFailed, KindNotAuthorized},
		{"wrapped authz", fmt.Errorf("produce: %w", sarama.ErrTopicAuthorizationFailed), KindNotAuthorized},
		{"delivery timeout", ErrDeliveryTimeout, KindTimeout},
		{"request timed out", sarama.ErrRequestTimedOut, KindTimeout},
		{"ctx deadline", context.DeadlineExceeded, KindTimeout},
		{"net timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, KindTimeout},
		{"out of brokers", sarama.ErrOutOfBrokers, KindUnreachable},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, KindUnreachable},
		{"eof", io.EOF, KindUnreachable},
		{"not leader", sarama.ErrNotLeaderForPartition, KindUnreachable},
		{"closed", ErrClosed, KindOther},
		{"other kerror", sarama.ErrOffsetOutOfRange, KindOther},
		{"plain", errors.New("boom"), KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorKind(tt.err); got != tt.want {
				t.Errorf("ErrorKind(%v) = %q; want %q", tt.err, got, tt.want)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
