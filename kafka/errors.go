package kafka

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
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

// Error kinds: a bounded label set for metrics and logs (ErrorKind's
// values; errKind.String).
const (
	KindTooLarge      = "too_large"
	KindInvalidTopic  = "invalid_topic"
	KindNotAuthorized = "not_authorized"
	KindTimeout       = "timeout"
	KindUnreachable   = "unreachable"
	KindOther         = "other"
)

// errKind is ErrorKind as a typed value, for decisions and for indexing
// the per-kind counters.
type errKind uint8

const (
	kindNone errKind = iota // a nil error
	kindTooLarge
	kindInvalidTopic
	kindNotAuthorized
	kindTimeout
	kindUnreachable
	kindOther
	numKinds
)

var kindNames = [numKinds]string{"", KindTooLarge, KindInvalidTopic, KindNotAuthorized, KindTimeout, KindUnreachable, KindOther}

// String returns the label (one of the Kind constants; "" for kindNone).
func (k errKind) String() string { return kindNames[k] }

// permanent reports whether Kafka refused the record for good: retrying or
// spilling it cannot help.
func (k errKind) permanent() bool {
	return k == kindTooLarge || k == kindInvalidTopic || k == kindNotAuthorized
}

// kindCounters counts errors by kind.
type kindCounters [numKinds]atomic.Uint64

func (c *kindCounters) add(k errKind) { c[k].Add(1) }

// snapshot returns the counts by label, every kind present.
func (c *kindCounters) snapshot() map[string]uint64 {
	m := make(map[string]uint64, numKinds-1)
	for k := kindNone + 1; k < numKinds; k++ {
		m[k.String()] = c[k].Load()
	}
	return m
}

// permanent reports whether Kafka refused the record for good.
func permanent(err error) bool { return kindOf(err).permanent() }

// ErrorKind classifies a producer or consumer error into one of
// "too_large", "invalid_topic", "not_authorized", "timeout", "unreachable"
// or "other". It returns "" for nil.
func ErrorKind(err error) string { return kindOf(err).String() }

// kindOf classifies err; see ErrorKind.
func kindOf(err error) errKind {
	if err == nil {
		return kindNone
	}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		switch kerr {
		case sarama.ErrMessageSizeTooLarge, sarama.ErrInvalidMessageSize:
			return kindTooLarge
		case sarama.ErrInvalidTopic, sarama.ErrUnknownTopicOrPartition:
			return kindInvalidTopic
		case sarama.ErrTopicAuthorizationFailed, sarama.ErrClusterAuthorizationFailed,
			sarama.ErrGroupAuthorizationFailed, sarama.ErrSASLAuthenticationFailed,
			sarama.ErrTransactionalIDAuthorizationFailed:
			return kindNotAuthorized
		case sarama.ErrRequestTimedOut, sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend:
			return kindTimeout
		case sarama.ErrLeaderNotAvailable, sarama.ErrNotLeaderForPartition, sarama.ErrBrokerNotAvailable,
			sarama.ErrNetworkException, sarama.ErrNotController:
			return kindUnreachable
		}
		return kindOther
	}
	var cerr sarama.ConfigurationError
	if errors.As(err, &cerr) && strings.Contains(string(cerr), "larger than configured") {
		return kindTooLarge
	}
	switch {
	case errors.Is(err, ErrDeliveryTimeout), errors.Is(err, context.DeadlineExceeded):
		return kindTimeout
	case errors.Is(err, sarama.ErrOutOfBrokers), errors.Is(err, sarama.ErrNotConnected),
		errors.Is(err, sarama.ErrClosedClient), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return kindUnreachable
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		if nerr.Timeout() {
			return kindTimeout
		}
		return kindUnreachable
	}
	return kindOther
}
