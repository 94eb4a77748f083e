package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	// KindAuthentication: the brokers refused the credentials (SASL: a
	// wrong password, an expired or malformed token, a mechanism the
	// listener does not offer).
	KindAuthentication = "authentication"
	// KindTLS: the TLS handshake failed (a broker certificate not trusted,
	// expired or for another host; the broker refused ours; TLS spoken to
	// a plaintext listener).
	KindTLS         = "tls"
	KindTimeout     = "timeout"
	KindUnreachable = "unreachable"
	KindOther       = "other"
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
	kindAuthentication
	kindTLS
	numKinds
)

var kindNames = [numKinds]string{"", KindTooLarge, KindInvalidTopic, KindNotAuthorized, KindTimeout, KindUnreachable, KindOther, KindAuthentication, KindTLS}

// ErrorKinds lists every label ErrorKind returns for a non-nil error, for
// metrics that show them all.
func ErrorKinds() []string {
	out := make([]string, 0, numKinds-1)
	for k := kindNone + 1; k < numKinds; k++ {
		out = append(out, k.String())
	}
	return out
}

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
// "too_large", "invalid_topic", "not_authorized", "authentication", "tls",
// "timeout", "unreachable" or "other". It returns "" for nil.
func ErrorKind(err error) string { return kindOf(err).String() }

// kafkaErrKinds classifies broker error codes, checked in this order with
// errors.Is: sarama wraps some (the SASL failure with the broker's
// message) so that only errors.Is, not errors.As, finds the code; and a
// client that ran out of brokers wraps the cause of each broker's failure.
var kafkaErrKinds = []struct {
	err  sarama.KError
	kind errKind
}{
	{sarama.ErrSASLAuthenticationFailed, kindAuthentication},
	{sarama.ErrUnsupportedSASLMechanism, kindAuthentication},
	{sarama.ErrIllegalSASLState, kindAuthentication},
	{sarama.ErrTopicAuthorizationFailed, kindNotAuthorized},
	{sarama.ErrGroupAuthorizationFailed, kindNotAuthorized},
	{sarama.ErrClusterAuthorizationFailed, kindNotAuthorized},
	{sarama.ErrTransactionalIDAuthorizationFailed, kindNotAuthorized},
	{sarama.ErrMessageSizeTooLarge, kindTooLarge},
	{sarama.ErrInvalidMessageSize, kindTooLarge},
	{sarama.ErrInvalidTopic, kindInvalidTopic},
	{sarama.ErrUnknownTopicOrPartition, kindInvalidTopic},
	{sarama.ErrRequestTimedOut, kindTimeout},
	{sarama.ErrNotEnoughReplicas, kindTimeout},
	{sarama.ErrNotEnoughReplicasAfterAppend, kindTimeout},
	{sarama.ErrLeaderNotAvailable, kindUnreachable},
	{sarama.ErrNotLeaderForPartition, kindUnreachable},
	{sarama.ErrBrokerNotAvailable, kindUnreachable},
	{sarama.ErrNetworkException, kindUnreachable},
	{sarama.ErrNotController, kindUnreachable},
}

// kindOf classifies err; see ErrorKind. The cause wins over its wrapping:
// "out of brokers" because every broker refused our password is
// authentication, not unreachable.
func kindOf(err error) errKind {
	if err == nil {
		return kindNone
	}
	for _, e := range kafkaErrKinds {
		if errors.Is(err, e.err) {
			return e.kind
		}
	}
	if isTLSError(err) {
		return kindTLS
	}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
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

// isTLSError reports a failed TLS handshake: the broker's certificate not
// trusted, expired or for another name (x509), the broker refusing ours
// (an alert), or TLS spoken to a listener that is not TLS.
func isTLSError(err error) bool {
	var (
		verr   *tls.CertificateVerificationError
		uerr   x509.UnknownAuthorityError
		ierr   x509.CertificateInvalidError
		herr   x509.HostnameError
		aerr   tls.AlertError
		rerr   tls.RecordHeaderError
		remote *net.OpError
	)
	switch {
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &ierr), errors.As(err, &herr),
		errors.As(err, &aerr), errors.As(err, &rerr):
		return true
	}
	// A TLS alert from the peer arrives as a *net.OpError with Op
	// "remote error" (crypto/tls's unexported alert type).
	return errors.As(err, &remote) && remote.Op == "remote error"
}
