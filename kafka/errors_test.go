package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
		{"sasl", sarama.ErrSASLAuthenticationFailed, KindAuthentication},
		{"sasl with the broker's message", sarama.Wrap(sarama.ErrSASLAuthenticationFailed, errors.New("invalid credentials")), KindAuthentication},
		{"out of brokers: sasl", sarama.Wrap(sarama.ErrOutOfBrokers, sarama.Wrap(sarama.ErrSASLAuthenticationFailed, errors.New("invalid credentials"))), KindAuthentication},
		{"mechanism not offered", sarama.ErrUnsupportedSASLMechanism, KindAuthentication},
		{"group authz", sarama.ErrGroupAuthorizationFailed, KindNotAuthorized},
		{"out of brokers: unknown CA", sarama.Wrap(sarama.ErrOutOfBrokers, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), KindTLS},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, KindTLS},
		{"hostname", x509.HostnameError{Host: "localhost"}, KindTLS},
		{"peer alert", &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, KindTLS},
		{"plaintext listener", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, KindTLS},
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

func TestErrorKindsListsEveryKind(t *testing.T) {
	got := ErrorKinds()
	want := []string{KindTooLarge, KindInvalidTopic, KindNotAuthorized, KindTimeout, KindUnreachable, KindOther, KindAuthentication, KindTLS}
	if len(got) != len(want) {
		t.Fatalf("ErrorKinds() = %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ErrorKinds()[%d] = %q; want %q", i, got[i], want[i])
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
