package integration

// Failures of the secured connection name their cause: each real error
// from the broker (or a TLS peer) maps to its kind.

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

// TestSecureFailuresNameTheirCause connects with one thing wrong at a time
// and checks the error's kind and that its text names the cause.
func TestSecureFailuresNameTheirCause(t *testing.T) {
	b := testenv.SecureKafka(t)
	other := newTestCA(t)
	expired := tlsListener(t, other.serverCert(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)))
	tests := []struct {
		name     string
		setup    func(t *testing.T, k *kafka.Config)
		kind     string
		contains string
	}{
		{"wrong password", func(t *testing.T, k *kafka.Config) {
			k.BootstrapServers = []string{b.SASLSSL}
			withCA(b, k)
			k.SASL.Mechanism, k.SASL.Username, k.SASL.Password = kafka.SASLScramSHA512, testenv.ScramUser, "wrong"
		}, kafka.KindAuthentication, "invalid credentials"},
		{"wrong PLAIN password", func(t *testing.T, k *kafka.Config) {
			k.BootstrapServers = []string{b.SASLSSL}
			withCA(b, k)
			k.SASL.Mechanism, k.SASL.Username, k.SASL.Password = kafka.SASLPlain, testenv.PlainUser, "wrong"
		}, kafka.KindAuthentication, "Authentication failed"},
		{"untrusted broker certificate", func(t *testing.T, k *kafka.Config) {
			k.BootstrapServers = []string{b.SSL}
			k.TLS.Enabled = true
			k.TLS.CAFile = writeSecret(t, t.TempDir(), "other-ca.pem", string(other.pem))
		}, kafka.KindTLS, "unknown authority"},
		{"system roots only", func(t *testing.T, k *kafka.Config) {
			k.BootstrapServers = []string{b.SSL}
			k.TLS.Enabled = true
		}, kafka.KindTLS, "unknown authority"},
		{"hostname mismatch", func(t *testing.T, k *kafka.Config) {
			k.BootstrapServers = []string{strings.Replace(b.SSL, "127.0.0.1", "localhost", 1)}
			withCA(b, k)
		}, kafka.KindTLS, "match localhost"},
		{"expired broker certificate", func(t *testing.T, k *kafka.Config) {
			k.BootstrapServers = []string{expired}
			k.TLS.Enabled = true
			k.TLS.CAFile = writeSecret(t, t.TempDir(), "other-ca.pem", string(other.pem))
		}, kafka.KindTLS, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := kafka.DefaultConfig()
			tt.setup(t, &k)
			err := dialErr(t, k)
			if got := kafka.ErrorKind(err); got != tt.kind {
				t.Errorf("error %v: kind %q; want %q", err, got, tt.kind)
			}
			if err != nil && !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not name the cause (%q)", err, tt.contains)
			}
		})
	}
}

// TestSecureMissingACL: a principal without WRITE on the topic gets
// not_authorized from the producer, one without READ on its group gets
// not_authorized from the consumer group.
func TestSecureMissingACL(t *testing.T) {
	b := testenv.SecureKafka(t)
	topic, group := uniq(t, "noacl"), uniq(t, "group")
	testenv.CreateTopic(t, b.Plaintext, topic, 1)
	k := kafka.DefaultConfig()
	k.BootstrapServers = []string{b.SSL}
	withCA(b, &k)
	k.TLS.CertFile = filepath.Join(b.TLSDir, "client.pem")
	k.TLS.KeyFile = filepath.Join(b.TLSDir, "client.key")
	sc, err := k.SaramaConfig()
	if err != nil {
		t.Fatal(err)
	}
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Retry.Max = 0
	sc.Metadata.Retry.Max = 0
	p, err := sarama.NewSyncProducer(k.BootstrapServers, sc)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x")})
	_ = p.Close()
	if kafka.ErrorKind(err) != kafka.KindNotAuthorized || !strings.Contains(err.Error(), "topic") {
		t.Errorf("produce without WRITE: %v (kind %q); want kind %q naming the topic", err, kafka.ErrorKind(err), kafka.KindNotAuthorized)
	}

	grant(t, b, testenv.MTLSUser, nil, []string{topic}, "") // the topic, not the group
	cg, err := sarama.NewConsumerGroup(k.BootstrapServers, group, sc)
	if err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	defer cg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaWait)
	defer cancel()
	err = cg.Consume(ctx, []string{topic}, nopGroupHandler{})
	if kafka.ErrorKind(err) != kafka.KindNotAuthorized || !strings.Contains(err.Error(), "group") {
		t.Errorf("join without READ on the group: %v (kind %q); want kind %q naming the group", err, kafka.ErrorKind(err), kafka.KindNotAuthorized)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("Consume waited for the deadline instead of failing")
	}
}

type nopGroupHandler struct{}

func (nopGroupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (nopGroupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (nopGroupHandler) ConsumeClaim(sarama.ConsumerGroupSession, sarama.ConsumerGroupClaim) error {
	return nil
}
