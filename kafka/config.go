package kafka

import (
	"errors"
	"fmt"
	"strings"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka/spool"
)

// Config configures the connection to Kafka, the producer (uplink) and the
// consumer group (downlink). Keys follow the Java client's names with '.'
// replaced by '_' so that Kafka users recognise them; durations whose Kafka
// name ends in _ms are plain integers in milliseconds, as in Kafka.
type Config struct {
	// BootstrapServers lists host:port pairs used for the first metadata
	// request. Java: bootstrap.servers. Default ["127.0.0.1:9092"].
	BootstrapServers []string `koanf:"bootstrap_servers"`
	// ClientID is sent with every request and shows in broker logs and
	// quotas. Java: client.id. Default "mqtt-kafka-bridge".
	ClientID string `koanf:"client_id"`
	// TLS encrypts the connection to the brokers. Java: security.protocol=SSL.
	TLS TLSConfig `koanf:"tls"`
	// SASL authenticates to the brokers. Java: security.protocol=SASL_*.
	SASL SASLConfig `koanf:"sasl"`
	// Producer configures the uplink producer.
	Producer ProducerConfig `koanf:"producer"`
	// Consumer configures the downlink consumer group.
	Consumer ConsumerConfig `koanf:"consumer"`
	// Spool is the disk spill behind the producer (kafka.spool.*). Disabled
	// by default here (the producer then behaves as a plain bounded window);
	// the shipped config.yaml enables it. See README.md, "Hybrid path".
	Spool spool.Config `koanf:"spool"`
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	// Enabled turns TLS on. Default false. Java: security.protocol=SSL (or
	// SASL_SSL with kafka.sasl).
	Enabled bool `koanf:"enabled"`
	// CAFile is a PEM bundle of CAs that sign the brokers' certificates; empty
	// means the system pool. Read at start. Java: ssl.truststore.location
	// (ssl.truststore.type=PEM).
	CAFile string `koanf:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and key for mutual
	// TLS; both or neither. They are read again whenever either file
	// changes, so a renewed certificate is used by the next connection
	// without a restart. Java: ssl.keystore.location (ssl.keystore.type=PEM).
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// InsecureSkipVerify disables broker certificate verification. For tests
	// only. Java: ssl.endpoint.identification.algorithm="" (roughly).
	InsecureSkipVerify bool `koanf:"insecure_skip_verify"`
}

// SASL mechanisms accepted in SASLConfig.Mechanism.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
	SASLOAuthBearer = "OAUTHBEARER"
)

// SASLConfig configures SASL authentication. Secrets come from the file
// (password_file), the environment (BRIDGE_KAFKA_SASL_PASSWORD) or, least
// safe, the config file itself; they are never logged.
type SASLConfig struct {
	// Mechanism is empty (SASL off), PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or
	// OAUTHBEARER. Java: sasl.mechanism. Default "" (off).
	Mechanism string `koanf:"mechanism"`
	// Username is the SASL user (PLAIN and SCRAM). Java: sasl.jaas.config
	// username.
	Username string `koanf:"username"`
	// Password is the SASL password (PLAIN and SCRAM). Prefer PasswordFile
	// or the environment. Java: sasl.jaas.config password.
	Password string `koanf:"password"`
	// PasswordFile names a file holding the password (one trailing newline
	// is ignored), instead of Password. SCRAM reads it again for every new
	// connection when it changed, so a rotated password needs no restart;
	// PLAIN reads it when the producer and consumer are built (start).
	// No Java equivalent (a JAAS file).
	PasswordFile string `koanf:"password_file"`
	// OAuthBearer configures the token of the OAUTHBEARER mechanism.
	OAuthBearer OAuthBearerConfig `koanf:"oauthbearer"`
}

// OAuthBearerConfig says where OAUTHBEARER tokens come from: exactly one
// of TokenFile or AWSMSKIAM when the mechanism is OAUTHBEARER.
type OAuthBearerConfig struct {
	// TokenFile names a file holding the access token (a JWT), read again
	// for every new connection when it changed. Whatever keeps it fresh (a
	// Kubernetes projected service account token, a Vault or IdP agent, a
	// cron job) rotates the bridge's credential. Java: the nearest is
	// sasl.oauthbearer.token.endpoint.url, which fetches it itself.
	TokenFile string `koanf:"token_file"`
	// AWSMSKIAM signs Amazon MSK IAM tokens (aws-msk-iam-sasl-signer-go)
	// with the default AWS credential chain (environment, shared config,
	// web identity, instance or task role).
	AWSMSKIAM AWSMSKIAMConfig `koanf:"aws_msk_iam"`
}

// AWSMSKIAMConfig configures Amazon MSK IAM authentication.
type AWSMSKIAMConfig struct {
	// Region is the cluster's AWS region, e.g. "eu-west-1". Setting it turns
	// MSK IAM on. Java: awsRegion in the aws-msk-iam-auth JAAS line (or the
	// region of the default chain).
	Region string `koanf:"region"`
	// RoleARN, when set, is assumed (STS) to sign the token. Java:
	// awsRoleArn.
	RoleARN string `koanf:"role_arn"`
}

// Producer acks values.
const (
	AcksAll  = "all"
	AcksOne  = "1"
	AcksNone = "0"
)

// Partitioner names.
const (
	PartitionerMurmur2 = "murmur2"
	PartitionerFNV     = "fnv"
)

// ProducerConfig configures the uplink producer.
type ProducerConfig struct {
	// Acks is how many replicas must have a record before it counts as
	// delivered: "all" (every in-sync replica), "1" (the leader) or "0" (no
	// response; Done(nil) fires once the request is written). Java: acks.
	// Default "all".
	Acks string `koanf:"acks"`
	// CompressionType is none, gzip, snappy, lz4 or zstd.
	// Java: compression.type. Default "lz4" (cheap; sarama's zstd encoder has
	// a history of memory bloat).
	CompressionType string `koanf:"compression_type"`
	// LingerMs is how long a batch may wait for more records before it is
	// sent. Java: linger.ms. Default 5. Maps to sarama Flush.Frequency.
	LingerMs int `koanf:"linger_ms"`
	// BatchSize is the buffered bytes per broker that trigger a send before
	// LingerMs ends. Java: batch.size (per partition there; per broker here).
	// Default 1048576. Maps to sarama Flush.Bytes (always with Flush.Frequency).
	BatchSize int `koanf:"batch_size"`
	// MaxRequestSize is the largest record (key+value+headers) accepted;
	// larger records fail with ErrorKind "too_large". Keep it at or below the
	// broker's message.max.bytes. Java: max.request.size. Default 1048576.
	MaxRequestSize int `koanf:"max_request_size"`
	// DeliveryTimeoutMs bounds the time from Produce to Done: a record not
	// acknowledged by then completes with ErrDeliveryTimeout (it may still
	// land in Kafka later: at-least-once). Retriable errors are retried until
	// then. Java: delivery.timeout.ms. Default 120000.
	DeliveryTimeoutMs int `koanf:"delivery_timeout_ms"`
	// RequestTimeoutMs is how long to wait for a broker's response (and the
	// broker for its replicas). Java: request.timeout.ms. Default 30000.
	RequestTimeoutMs int `koanf:"request_timeout_ms"`
	// RetryBackoffMs is the first back-off between retries; it doubles up to
	// 1 s. Java: retry.backoff.ms (and retry.backoff.max.ms=1000). Default 100.
	RetryBackoffMs int `koanf:"retry_backoff_ms"`
	// EnableIdempotence gives records producer ids and sequence numbers so
	// that the broker drops duplicates from retries. Requires acks=all and
	// max_in_flight_requests_per_connection=1 (a sarama limit).
	// Java: enable.idempotence. Default true (see README.md for the test).
	EnableIdempotence bool `koanf:"enable_idempotence"`
	// MaxInFlightRequestsPerConnection is the number of unanswered produce
	// requests per broker. Above 1 per-key order is NOT kept under retries.
	// Java: max.in.flight.requests.per.connection. Default 1.
	MaxInFlightRequestsPerConnection int `koanf:"max_in_flight_requests_per_connection"`
	// Producers is how many sarama producers (each with its own client, so
	// its own connections and idempotent producer id) share the load. Each
	// owns a fixed share of every topic's partitions (partition p goes to
	// producer p % producers), so a partition, and with it a key, has exactly
	// one producer and per-key order holds as with one. With more than one,
	// the bridge picks the partition itself (partitioner below) and hands the
	// record to that partition's producer. It raises the ceiling that
	// max_in_flight_requests_per_connection=1 (idempotence) sets: one produce
	// request in flight per broker and producer. 1 to 16. No Java
	// equivalent: the Java client keeps up to 5 requests in flight per
	// connection with idempotence (max.in.flight.requests.per.connection=5),
	// which sarama cannot. Default 1: more producers raise the ceiling when
	// Kafka's requests in flight are the limit (a bounded window at a high
	// rate, devices in step), but cost CPU per record at moderate, evenly
	// paced loads (smaller batches, more requests); see README.md, "The
	// Kafka ceiling", for the figures. 3 is the measured choice for the
	// former.
	Producers int `koanf:"producers"`
	// Partitioner picks the partition of keyed records: "murmur2" (same as
	// the Java client's default) or "fnv" (sarama's historic default).
	// Records without a key go to a random partition. Java: partitioner.class.
	// Default "murmur2".
	Partitioner string `koanf:"partitioner"`
	// BufferRecords is the in-memory window: records accepted by Produce but
	// not yet acknowledged (or failed). Produce blocks while it is full.
	// No Java equivalent (roughly buffer.memory, in records). Default 10000.
	BufferRecords int `koanf:"buffer_records"`
	// SpillAfterMs is the health threshold of the hybrid path (only with
	// kafka.spool.enabled): once a record has waited this long while Kafka
	// answered nothing (success or error), or while Kafka answered records
	// accepted this long after it (its partition is stuck), or Kafka is
	// unreachable or fails records, records are written to the disk spool
	// instead and acked after its fsync. A full window while Kafka answers is
	// overload, not an outage: Produce waits, nothing spills. Must be below
	// delivery_timeout_ms. No Java equivalent. Default 1000.
	SpillAfterMs int `koanf:"spill_after_ms"`
	// QoS0WhenFull is what happens to a record without a Done callback
	// (MQTT QoS 0) when both the window and the spool quota are full:
	// "shed" (dropped and counted, the default) or "block" (Produce waits,
	// like QoS 1/2). No Java equivalent.
	QoS0WhenFull string `koanf:"qos0_when_full"`
}

// QoS0WhenFull values.
const (
	QoS0Shed  = "shed"
	QoS0Block = "block"
)

// Consumer auto_offset_reset values.
const (
	OffsetEarliest = "earliest"
	OffsetLatest   = "latest"
)

// ConsumerConfig configures the downlink consumer group.
type ConsumerConfig struct {
	// GroupID names the consumer group. Java: group.id.
	// Default "mqtt-kafka-bridge".
	GroupID string `koanf:"group_id"`
	// AutoOffsetReset is where a group without a committed offset starts:
	// "latest" or "earliest". Java: auto.offset.reset. Default "latest": a new
	// bridge must not replay a topic's whole history of commands to devices.
	AutoOffsetReset string `koanf:"auto_offset_reset"`
	// SessionTimeoutMs is how long the group coordinator waits for a
	// heartbeat before it evicts this member. Java: session.timeout.ms.
	// Default 10000.
	SessionTimeoutMs int `koanf:"session_timeout_ms"`
	// HeartbeatIntervalMs is the heartbeat period; below a third of
	// SessionTimeoutMs. Java: heartbeat.interval.ms. Default 3000.
	HeartbeatIntervalMs int `koanf:"heartbeat_interval_ms"`
	// CommitIntervalMs is how often marked offsets are committed; a final
	// commit follows every rebalance and shutdown.
	// Java: auto.commit.interval.ms. Default 1000.
	CommitIntervalMs int `koanf:"commit_interval_ms"`
	// MaxPendingPerPartition is how many records of one partition may be
	// with the handler, not yet done. Reading from that partition pauses
	// while it is reached. No Java equivalent. Default 1000.
	MaxPendingPerPartition int `koanf:"max_pending_per_partition"`
	// DrainTimeoutMs bounds the wait for outstanding handler completions
	// when a partition is revoked or the consumer stops; records not done by
	// then are delivered again later. Should stay well below the group's
	// rebalance timeout (60 s). No Java equivalent. Default 10000.
	DrainTimeoutMs int `koanf:"drain_timeout_ms"`
	// GroupInstanceID makes this member a static member of the group
	// (KIP-345, Kafka >= 2.3): a member that stops and joins again under
	// the same id within SessionTimeoutMs gets its partitions back without
	// a rebalance, and stopping sends no LeaveGroup, so its partitions wait
	// (unread) until it is back or SessionTimeoutMs passed. Letters,
	// digits, '.', '_' and '-', at most 249 bytes; unique in the group (a
	// second member with the same id fences the first). Java:
	// group.instance.id. Default "": a dynamic member; in cluster mode the
	// bridge uses the replica id (cluster.replica_id) when it is empty.
	GroupInstanceID string `koanf:"group_instance_id"`
	// PartitionAssignmentStrategy names the assignors, most preferred
	// first, comma-separated: range, roundrobin, sticky,
	// cooperative-sticky. Every name must share one rebalance protocol
	// (cooperative-sticky alone is cooperative: a rebalance moves only the
	// partitions that change owner and the others keep being read; with
	// an eager one, listed as "cooperative-sticky,range", it is the first
	// step of a rolling upgrade from range). Java:
	// partition.assignment.strategy. Default "": range; in cluster mode the
	// bridge uses cooperative-sticky when it is empty.
	PartitionAssignmentStrategy string `koanf:"partition_assignment_strategy"`
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		BootstrapServers: []string{"127.0.0.1:9092"},
		ClientID:         "mqtt-kafka-bridge",
		Producer: ProducerConfig{
			Acks:                             AcksAll,
			CompressionType:                  "lz4",
			LingerMs:                         5,
			BatchSize:                        1 << 20,
			MaxRequestSize:                   1 << 20,
			DeliveryTimeoutMs:                120000,
			RequestTimeoutMs:                 30000,
			RetryBackoffMs:                   100,
			EnableIdempotence:                true,
			MaxInFlightRequestsPerConnection: 1,
			Producers:                        1,
			Partitioner:                      PartitionerMurmur2,
			BufferRecords:                    10000,
			SpillAfterMs:                     1000,
			QoS0WhenFull:                     QoS0Shed,
		},
		Consumer: ConsumerConfig{
			GroupID:                "mqtt-kafka-bridge",
			AutoOffsetReset:        OffsetLatest,
			SessionTimeoutMs:       10000,
			HeartbeatIntervalMs:    3000,
			CommitIntervalMs:       1000,
			MaxPendingPerPartition: 1000,
			DrainTimeoutMs:         10000,
		},
		Spool: spool.DefaultConfig(),
	}
}

// maxProducers bounds kafka.producer.producers: each producer is a client
// with its own connection to every broker and its own goroutines.
const maxProducers = 16

var compressionTypes = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// Validate reports the first contradiction or out-of-range value, naming the
// key at fault (as kafka.<key>).
func (c Config) Validate() error {
	if len(c.BootstrapServers) == 0 {
		return errors.New("kafka.bootstrap_servers: must list at least one host:port")
	}
	for _, s := range c.BootstrapServers {
		if i := strings.LastIndexByte(s, ':'); i <= 0 || i == len(s)-1 {
			return fmt.Errorf("kafka.bootstrap_servers: %q is not host:port", s)
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("kafka.tls.cert_file and kafka.tls.key_file: set both or neither")
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.InsecureSkipVerify) {
		return errors.New("kafka.tls.enabled: must be true when other kafka.tls keys are set")
	}
	if err := c.SASL.validate(); err != nil {
		return err
	}
	if err := c.Producer.validate(); err != nil {
		return err
	}
	if c.Spool.Enabled {
		if err := c.Spool.Validate(); err != nil {
			return err
		}
		if c.Producer.SpillAfterMs >= c.Producer.DeliveryTimeoutMs {
			return errors.New("kafka.producer.spill_after_ms: must be below delivery_timeout_ms when kafka.spool.enabled")
		}
	}
	return c.Consumer.validate()
}

func (s SASLConfig) validate() error {
	ob := s.OAuthBearer
	hasOB := ob.TokenFile != "" || ob.AWSMSKIAM != (AWSMSKIAMConfig{})
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" || hasOB {
			return errors.New("kafka.sasl.mechanism: must be set when other kafka.sasl keys are")
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.Username == "" {
			return fmt.Errorf("kafka.sasl.username: required by mechanism %s", s.Mechanism)
		}
		if s.Password != "" && s.PasswordFile != "" {
			return errors.New("kafka.sasl.password_file: set password or password_file, not both")
		}
		if hasOB {
			return fmt.Errorf("kafka.sasl.oauthbearer: only for mechanism OAUTHBEARER, not %s", s.Mechanism)
		}
	case SASLOAuthBearer:
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			return errors.New("kafka.sasl.username: not used by OAUTHBEARER (the token names the principal); unset username, password and password_file")
		}
		switch {
		case ob.TokenFile == "" && ob.AWSMSKIAM.Region == "":
			return errors.New("kafka.sasl.oauthbearer: OAUTHBEARER needs token_file or aws_msk_iam.region")
		case ob.TokenFile != "" && ob.AWSMSKIAM != (AWSMSKIAMConfig{}):
			return errors.New("kafka.sasl.oauthbearer: set token_file or aws_msk_iam, not both")
		case ob.AWSMSKIAM.RoleARN != "" && ob.AWSMSKIAM.Region == "":
			return errors.New("kafka.sasl.oauthbearer.aws_msk_iam.region: required with role_arn")
		}
	default:
		return fmt.Errorf("kafka.sasl.mechanism: %q is not PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", s.Mechanism)
	}
	return nil
}

func (p ProducerConfig) validate() error {
	switch p.Acks {
	case AcksAll, AcksOne, AcksNone:
	default:
		return fmt.Errorf("kafka.producer.acks: %q is not all, 1 or 0", p.Acks)
	}
	ok := false
	for _, c := range compressionTypes {
		ok = ok || p.CompressionType == c
	}
	if !ok {
		return fmt.Errorf("kafka.producer.compression_type: %q is not one of %s", p.CompressionType, strings.Join(compressionTypes, ", "))
	}
	switch {
	case p.LingerMs < 0:
		return errors.New("kafka.producer.linger_ms: must be >= 0")
	case p.BatchSize <= 0:
		return errors.New("kafka.producer.batch_size: must be > 0")
	case p.MaxRequestSize <= 0:
		return errors.New("kafka.producer.max_request_size: must be > 0")
	case p.RequestTimeoutMs <= 0:
		return errors.New("kafka.producer.request_timeout_ms: must be > 0")
	case p.RetryBackoffMs <= 0:
		return errors.New("kafka.producer.retry_backoff_ms: must be > 0")
	case p.DeliveryTimeoutMs < p.LingerMs+p.RequestTimeoutMs:
		return errors.New("kafka.producer.delivery_timeout_ms: must be >= linger_ms + request_timeout_ms")
	case p.MaxInFlightRequestsPerConnection < 1:
		return errors.New("kafka.producer.max_in_flight_requests_per_connection: must be >= 1")
	case p.Producers < 1 || p.Producers > maxProducers:
		return fmt.Errorf("kafka.producer.producers: %d is not between 1 and %d", p.Producers, maxProducers)
	case p.BufferRecords < 1:
		return errors.New("kafka.producer.buffer_records: must be >= 1")
	case p.EnableIdempotence && p.Acks != AcksAll:
		return errors.New("kafka.producer.enable_idempotence: requires acks=all")
	case p.EnableIdempotence && p.MaxInFlightRequestsPerConnection != 1:
		return errors.New("kafka.producer.enable_idempotence: requires max_in_flight_requests_per_connection=1 (sarama)")
	}
	switch p.Partitioner {
	case PartitionerMurmur2, PartitionerFNV:
	default:
		return fmt.Errorf("kafka.producer.partitioner: %q is not murmur2 or fnv", p.Partitioner)
	}
	if p.SpillAfterMs <= 0 {
		return errors.New("kafka.producer.spill_after_ms: must be > 0")
	}
	switch p.QoS0WhenFull {
	case QoS0Shed, QoS0Block:
	default:
		return fmt.Errorf("kafka.producer.qos0_when_full: %q is not shed or block", p.QoS0WhenFull)
	}
	return nil
}

func (c ConsumerConfig) validate() error {
	switch {
	case c.GroupID == "":
		return errors.New("kafka.consumer.group_id: must not be empty")
	case c.AutoOffsetReset != OffsetEarliest && c.AutoOffsetReset != OffsetLatest:
		return fmt.Errorf("kafka.consumer.auto_offset_reset: %q is not earliest or latest", c.AutoOffsetReset)
	case c.SessionTimeoutMs <= 0:
		return errors.New("kafka.consumer.session_timeout_ms: must be > 0")
	case c.HeartbeatIntervalMs <= 0 || c.HeartbeatIntervalMs*3 > c.SessionTimeoutMs:
		return errors.New("kafka.consumer.heartbeat_interval_ms: must be > 0 and at most a third of session_timeout_ms")
	case c.CommitIntervalMs <= 0:
		return errors.New("kafka.consumer.commit_interval_ms: must be > 0")
	case c.MaxPendingPerPartition < 1:
		return errors.New("kafka.consumer.max_pending_per_partition: must be >= 1")
	case c.DrainTimeoutMs < 0:
		return errors.New("kafka.consumer.drain_timeout_ms: must be >= 0")
	}
	if c.GroupInstanceID != "" {
		if err := checkGroupInstanceID(c.GroupInstanceID); err != nil {
			return fmt.Errorf("kafka.consumer.group_instance_id: %q %w", c.GroupInstanceID, err)
		}
	}
	if _, err := balanceStrategies(c.PartitionAssignmentStrategy); err != nil {
		return fmt.Errorf("kafka.consumer.partition_assignment_strategy: %w", err)
	}
	return nil
}
