package kafka

import (
	"errors"
	"fmt"

	"github.com/xdg-go/scram"
)

// scramClient adapts github.com/xdg-go/scram's client conversation to
// sarama.SCRAMClient (RFC 5802 without channel binding, as Kafka's
// SCRAM-SHA-256/512 use it; RFC 7677 for SHA-256).
//
// The password is NOT passed through SASLprep (NewClientUnprepped). Kafka
// does not apply it either: its Java client and its broker hash the raw
// UTF-8 bytes (ScramFormatter), so a password that SASLprep would change
// (a no-break space, a compatibility character, a decomposed accent) works
// with the Java client and would fail with a SASLprep'ed one.
// TestSecureSCRAMNonASCII shows both against the real broker. The
// password comes from pass (kafka.sasl.password or password_file, read
// again for each new connection), not from sarama's copy, so a rotated
// password_file takes effect at the next connection.
type scramClient struct {
	hash  scram.HashGeneratorFcn
	pass  *secret
	nonce scram.NonceGeneratorFcn // nil: crypto/rand (tests fix it)
	conv  *scram.ClientConversation
}

func (s *scramClient) Begin(user, pass, authz string) error {
	if authz != "" {
		return errors.New("scram: authorization id not supported")
	}
	if s.pass != nil {
		p, err := s.pass.get()
		if err != nil {
			return err
		}
		pass = p
	}
	c, err := s.hash.NewClientUnprepped(user, pass, "")
	if err != nil {
		return fmt.Errorf("scram: %w", err)
	}
	if s.nonce != nil {
		c = c.WithNonceGenerator(s.nonce)
	}
	s.conv = c.NewConversation()
	return nil
}

// Step answers the server's challenge (the empty string first). A wrong
// server signature, an iteration count below 4096 or a server nonce that
// does not extend ours fails the exchange.
func (s *scramClient) Step(challenge string) (string, error) {
	if s.conv == nil {
		return "", errors.New("scram: Step before Begin")
	}
	resp, err := s.conv.Step(challenge)
	if err != nil {
		return "", fmt.Errorf("scram: %w", err)
	}
	return resp, nil
}

// Done reports a finished exchange whose server signature checked out.
func (s *scramClient) Done() bool { return s.conv != nil && s.conv.Done() && s.conv.Valid() }
