package kafka

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/IBM/sarama"
)

var (
	// ErrClosed is returned by Produce after the producer began shutting
	// down, and passed to Done for records that were never handed to Kafka
	// because the producer stopped before it connected.
	ErrClosed = errors.New("kafka: producer closed")
	// ErrDeliveryTimeout is passed to Done when a record was not
	// acknowledged within producer.delivery_timeout_ms.
	ErrDeliveryTimeout = errors.New("kafka: delivery timeout")
)

// Error kinds: a bounded label set for metrics and logs.
const (
	KindTooLarge      = "too_large"
	KindInvalidTopic  = "invalid_topic"
	KindNotAuthorized = "not_authorized"
	KindTimeout       = "timeout"
	KindUnreachable   = "unreachable"
	KindOther         = "other"
)

// errorKinds lists every value ErrorKind returns for a non-nil error.
var errorKinds = [...]string{KindTooLarge, KindInvalidTopic, KindNotAuthorized, KindTimeout, KindUnreachable, KindOther}

// ErrorKind classifies a producer or consumer error into one of
// "too_large", "invalid_topic", "not_authorized", "timeout", "unreachable"
// or "other". It returns "" for nil.
func ErrorKind(err error) string {
	if err == nil {
		return ""
	}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		switch kerr {
		case sarama.ErrMessageSizeTooLarge, sarama.ErrInvalidMessageSize:
			return KindTooLarge
		case sarama.ErrInvalidTopic, sarama.ErrUnknownTopicOrPartition:
			return KindInvalidTopic
		case sarama.ErrTopicAuthorizationFailed, sarama.ErrClusterAuthorizationFailed,
			sarama.ErrGroupAuthorizationFailed, sarama.ErrSASLAuthenticationFailed,
			sarama.ErrTransactionalIDAuthorizationFailed:
			return KindNotAuthorized
		case sarama.ErrRequestTimedOut, sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend:
			return KindTimeout
		case sarama.ErrLeaderNotAvailable, sarama.ErrNotLeaderForPartition, sarama.ErrBrokerNotAvailable,
			sarama.ErrNetworkException, sarama.ErrNotController:
			return KindUnreachable
		}
		return KindOther
	}
	var cerr sarama.ConfigurationError
	if errors.As(err, &cerr) && strings.Contains(string(cerr), "larger than configured") {
		return KindTooLarge
	}
	switch {
	case errors.Is(err, ErrDeliveryTimeout), errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.Is(err, sarama.ErrOutOfBrokers), errors.Is(err, sarama.ErrNotConnected),
		errors.Is(err, sarama.ErrClosedClient), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindUnreachable
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		if nerr.Timeout() {
			return KindTimeout
		}
		return KindUnreachable
	}
	return KindOther
}
