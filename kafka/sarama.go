package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// maxRetryBackoff caps the doubling retry back-off (Java retry.backoff.max.ms).
const maxRetryBackoff = time.Second

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// baseConfig maps the connection settings shared by producer and consumer.
func (c Config) baseConfig() (*sarama.Config, error) {
	sc := sarama.NewConfig()
	// sarama's default (2.8) speaks protocol versions Kafka 4.x still serves
	// (KIP-896 removed the pre-2.1 ones).
	sc.Version = sarama.DefaultVersion
	sc.ClientID = c.ClientID
	sc.Net.DialTimeout = 10 * time.Second
	sc.Metadata.Retry.Max = 5
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	if c.TLS.Enabled {
		tc, err := c.TLS.build()
		if err != nil {
			return nil, err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if err := c.SASL.apply(sc); err != nil {
		return nil, err
	}
	return sc, nil
}

// apply sets sarama's SASL options. The password and the token are read
// through a secret, so that SCRAM and OAUTHBEARER read a rotated
// password_file or token_file at the next connection.
func (s SASLConfig) apply(sc *sarama.Config) error {
	if s.Mechanism == "" {
		return nil
	}
	sc.Net.SASL.Enable = true
	sc.Net.SASL.Handshake = true
	sc.Net.SASL.User = s.Username
	pass := newSecret("kafka.sasl.password_file", s.Password, s.PasswordFile)
	switch s.Mechanism {
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		// Read now: a missing file fails at start, naming the key. PLAIN
		// uses this copy (sarama reads Net.SASL.Password for each
		// connection; it cannot be swapped safely while clients run).
		p, err := pass.get()
		if err != nil {
			return err
		}
		sc.Net.SASL.Password = p
	}
	switch s.Mechanism {
	case SASLPlain:
		sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case SASLScramSHA256:
		sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256, pass: pass} }
	case SASLScramSHA512:
		sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512, pass: pass} }
	case SASLOAuthBearer:
		sc.Net.SASL.Mechanism = sarama.SASLTypeOAuth
		tp, err := s.OAuthBearer.provider()
		if err != nil {
			return err
		}
		sc.Net.SASL.TokenProvider = tp
	}
	return nil
}

// provider returns the token provider OAuthBearerConfig names.
func (o OAuthBearerConfig) provider() (sarama.AccessTokenProvider, error) {
	if o.TokenFile != "" {
		p := tokenFileProvider{tok: newSecret("kafka.sasl.oauthbearer.token_file", "", o.TokenFile)}
		if _, err := p.Token(); err != nil {
			return nil, err
		}
		return p, nil
	}
	// Not signed here: the credential chain may need the network, which
	// a start-up without AWS must not wait for; the first connection signs.
	return newMSKIAMProvider(o.AWSMSKIAM), nil
}

func (t TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, for tests
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file: no PEM certificates in %s", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		r := &certReloader{certFile: t.CertFile, keyFile: t.KeyFile}
		if _, err := r.load(); err != nil {
			return nil, err
		}
		tc.GetClientCertificate = r.getClientCertificate
	}
	return tc, nil
}

// producerConfig maps ProducerConfig onto sarama. See README.md for why each
// ordering-related setting is what it is.
func (c Config) producerConfig() (*sarama.Config, error) {
	sc, err := c.baseConfig()
	if err != nil {
		return nil, err
	}
	p := c.Producer
	switch p.Acks {
	case AcksAll:
		sc.Producer.RequiredAcks = sarama.WaitForAll
	case AcksOne:
		sc.Producer.RequiredAcks = sarama.WaitForLocal
	case AcksNone:
		sc.Producer.RequiredAcks = sarama.NoResponse
	}
	switch p.CompressionType {
	case "none":
		sc.Producer.Compression = sarama.CompressionNone
	case "gzip":
		sc.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		sc.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		sc.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		sc.Producer.Compression = sarama.CompressionZSTD
	}
	// Flush.Bytes is only a trigger; Flush.Frequency guarantees a send.
	sc.Producer.Flush.Frequency = ms(p.LingerMs)
	if p.LingerMs == 0 {
		sc.Producer.Flush.Frequency = 0
		sc.Producer.Flush.Bytes = 0
	} else {
		sc.Producer.Flush.Bytes = p.BatchSize
	}
	sc.Producer.MaxMessageBytes = p.MaxRequestSize
	sc.Producer.Timeout = ms(p.RequestTimeoutMs)
	sc.Net.ReadTimeout = ms(p.RequestTimeoutMs) + 5*time.Second
	sc.Net.MaxOpenRequests = p.MaxInFlightRequestsPerConnection
	sc.Producer.Idempotent = p.EnableIdempotence
	// sarama has no delivery timeout: retry with a doubling back-off for as
	// many attempts as fit in delivery_timeout_ms; the producer's own sweeper
	// enforces the deadline exactly.
	first := ms(p.RetryBackoffMs)
	sc.Producer.Retry.Backoff = first
	sc.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration { return retryBackoff(first, retries) }
	sc.Producer.Retry.Max = retriesWithin(first, ms(p.DeliveryTimeoutMs))
	// sarama fails a record at once, without Producer.Retry, when it cannot
	// find the partition's leader (broker down or restarting). A metadata
	// refresh that keeps retrying until the delivery timeout instead holds
	// the partition's records, in order, until the leader is back. The
	// producer probes reachability with a short-lived client before it
	// builds this one, so the start-up stays responsive.
	sc.Metadata.Retry.Max = retriesWithin(first, ms(p.DeliveryTimeoutMs))
	sc.Metadata.Retry.BackoffFunc = func(retries, _ int) time.Duration { return retryBackoff(first, retries) }
	sc.Metadata.Timeout = ms(p.DeliveryTimeoutMs)
	switch {
	case p.Producers > 1:
		// The feeder picks the partition (PartitionWith) to choose the
		// producer that owns it (shard.go); sarama sends it there.
		sc.Producer.Partitioner = sarama.NewManualPartitioner
	case p.Partitioner == PartitionerFNV:
		sc.Producer.Partitioner = sarama.NewHashPartitioner
	default:
		sc.Producer.Partitioner = sarama.NewMurmur2Partitioner
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	return sc, sc.Validate()
}

func retryBackoff(first time.Duration, retries int) time.Duration {
	d := first
	for i := 1; i < retries && d < maxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, maxRetryBackoff)
}

// retriesWithin counts the retries whose back-offs add up to at least total.
func retriesWithin(first, total time.Duration) int {
	n := 0
	for sum := time.Duration(0); sum < total; n++ {
		sum += retryBackoff(first, n+1)
	}
	return max(n, 1)
}

// consumerConfig maps ConsumerConfig onto sarama.
func (c Config) consumerConfig() (*sarama.Config, error) {
	sc, err := c.baseConfig()
	if err != nil {
		return nil, err
	}
	k := c.Consumer
	if k.AutoOffsetReset == OffsetEarliest {
		sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	} else {
		sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = ms(k.CommitIntervalMs)
	sc.Consumer.Group.Session.Timeout = ms(k.SessionTimeoutMs)
	sc.Consumer.Group.Heartbeat.Interval = ms(k.HeartbeatIntervalMs)
	sc.Consumer.Return.Errors = true
	// The claim loop hands records to an asynchronous handler, so it only
	// blocks while the per-partition window is full; let that take a while.
	sc.Consumer.MaxProcessingTime = time.Second
	// Static membership (KIP-345) needs JoinGroup v5, Kafka 2.3; the
	// cooperative protocol (KIP-429) 2.4. sarama.DefaultVersion (2.8)
	// speaks both. With an instance id, Close sends no LeaveGroup.
	sc.Consumer.Group.InstanceId = k.GroupInstanceID
	strategies, err := balanceStrategies(k.PartitionAssignmentStrategy)
	if err != nil {
		return nil, fmt.Errorf("kafka.consumer.partition_assignment_strategy: %w", err)
	}
	sc.Consumer.Group.Rebalance.GroupStrategies = strategies
	return sc, sc.Validate()
}
