package kafka

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v; want nil", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" = valid
	}{
		{"no servers", func(c *Config) { c.BootstrapServers = nil }, "kafka.bootstrap_servers"},
		{"server without port", func(c *Config) { c.BootstrapServers = []string{"localhost"} }, "kafka.bootstrap_servers"},
		{"cert without key", func(c *Config) { c.TLS.Enabled = true; c.TLS.CertFile = "c.pem" }, "kafka.tls.cert_file"},
		{"tls keys while off", func(c *Config) { c.TLS.CAFile = "ca.pem" }, "kafka.tls.enabled"},
		{"sasl unknown", func(c *Config) { c.SASL.Mechanism = "GSSAPI"; c.SASL.Username = "u" }, "kafka.sasl.mechanism"},
		{"sasl without user", func(c *Config) { c.SASL.Mechanism = SASLScramSHA512 }, "kafka.sasl.username"},
		{"credentials without mechanism", func(c *Config) { c.SASL.Username = "u" }, "kafka.sasl.mechanism"},
		{"sasl plain ok", func(c *Config) { c.SASL.Mechanism = SASLPlain; c.SASL.Username = "u" }, ""},
		{"acks bad", func(c *Config) { c.Producer.Acks = "-1" }, "kafka.producer.acks"},
		{"idempotence needs acks all", func(c *Config) { c.Producer.Acks = AcksOne }, "kafka.producer.enable_idempotence: requires acks=all"},
		{"acks 1 without idempotence", func(c *Config) { c.Producer.Acks = AcksOne; c.Producer.EnableIdempotence = false }, ""},
		{"idempotence needs one in flight", func(c *Config) { c.Producer.MaxInFlightRequestsPerConnection = 5 }, "max_in_flight_requests_per_connection=1"},
		{"five in flight without idempotence", func(c *Config) {
			c.Producer.MaxInFlightRequestsPerConnection = 5
			c.Producer.EnableIdempotence = false
		}, ""},
		{"compression bad", func(c *Config) { c.Producer.CompressionType = "brotli" }, "kafka.producer.compression_type"},
		{"compression zstd", func(c *Config) { c.Producer.CompressionType = "zstd" }, ""},
		{"linger negative", func(c *Config) { c.Producer.LingerMs = -1 }, "kafka.producer.linger_ms"},
		{"linger zero", func(c *Config) { c.Producer.LingerMs = 0 }, ""},
		{"delivery below request timeout", func(c *Config) { c.Producer.DeliveryTimeoutMs = 1000 }, "kafka.producer.delivery_timeout_ms"},
		{"buffer zero", func(c *Config) { c.Producer.BufferRecords = 0 }, "kafka.producer.buffer_records"},
		{"producers zero", func(c *Config) { c.Producer.Producers = 0 }, "kafka.producer.producers"},
		{"producers above 16", func(c *Config) { c.Producer.Producers = 17 }, "kafka.producer.producers"},
		{"one producer", func(c *Config) { c.Producer.Producers = 1 }, ""},
		{"partitioner bad", func(c *Config) { c.Producer.Partitioner = "random" }, "kafka.producer.partitioner"},
		{"partitioner fnv", func(c *Config) { c.Producer.Partitioner = PartitionerFNV }, ""},
		{"group empty", func(c *Config) { c.Consumer.GroupID = "" }, "kafka.consumer.group_id"},
		{"offset reset bad", func(c *Config) { c.Consumer.AutoOffsetReset = "none" }, "kafka.consumer.auto_offset_reset"},
		{"heartbeat too slow", func(c *Config) { c.Consumer.HeartbeatIntervalMs = 5000 }, "kafka.consumer.heartbeat_interval_ms"},
		{"commit interval zero", func(c *Config) { c.Consumer.CommitIntervalMs = 0 }, "kafka.consumer.commit_interval_ms"},
		{"pending zero", func(c *Config) { c.Consumer.MaxPendingPerPartition = 0 }, "kafka.consumer.max_pending_per_partition"},
		{"instance id ok", func(c *Config) { c.Consumer.GroupInstanceID = "bridge-0.eu_1" }, ""},
		{"instance id bad byte", func(c *Config) { c.Consumer.GroupInstanceID = "r 1" }, "kafka.consumer.group_instance_id"},
		{"instance id dot", func(c *Config) { c.Consumer.GroupInstanceID = ".." }, "kafka.consumer.group_instance_id"},
		{"instance id too long", func(c *Config) { c.Consumer.GroupInstanceID = strings.Repeat("r", 250) }, "kafka.consumer.group_instance_id"},
		{"assignor unknown", func(c *Config) { c.Consumer.PartitionAssignmentStrategy = "uniform" }, "kafka.consumer.partition_assignment_strategy"},
		{"assignor twice", func(c *Config) { c.Consumer.PartitionAssignmentStrategy = "range, range" }, "kafka.consumer.partition_assignment_strategy"},
		{"assignor upgrade list", func(c *Config) { c.Consumer.PartitionAssignmentStrategy = "cooperative-sticky, range" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestProducerConfigMapping(t *testing.T) {
	c := DefaultConfig()
	sc, err := c.producerConfig()
	if err != nil {
		t.Fatalf("producerConfig() = %v", err)
	}
	if sc.Producer.RequiredAcks != sarama.WaitForAll {
		t.Errorf("RequiredAcks = %v; want WaitForAll", sc.Producer.RequiredAcks)
	}
	if !sc.Producer.Idempotent || sc.Net.MaxOpenRequests != 1 {
		t.Errorf("Idempotent = %v, MaxOpenRequests = %d; want true, 1", sc.Producer.Idempotent, sc.Net.MaxOpenRequests)
	}
	if sc.Producer.Compression != sarama.CompressionLZ4 {
		t.Errorf("Compression = %v; want lz4", sc.Producer.Compression)
	}
	if sc.Producer.Flush.Bytes != 0 && sc.Producer.Flush.Frequency == 0 {
		t.Errorf("Flush.Bytes set without Flush.Frequency")
	}
	if sc.Producer.Flush.Frequency != 5*time.Millisecond {
		t.Errorf("Flush.Frequency = %v; want 5ms", sc.Producer.Flush.Frequency)
	}
	if !sc.Version.IsAtLeast(sarama.V2_1_0_0) {
		t.Errorf("Version = %v; Kafka 4 needs >= 2.1", sc.Version)
	}
	// Retries must cover the delivery timeout.
	var total time.Duration
	for i := 1; i <= sc.Producer.Retry.Max; i++ {
		total += sc.Producer.Retry.BackoffFunc(i, sc.Producer.Retry.Max)
	}
	if total < ms(c.Producer.DeliveryTimeoutMs) {
		t.Errorf("retry back-offs add up to %v; want >= delivery timeout %v", total, ms(c.Producer.DeliveryTimeoutMs))
	}
	if got := sc.Producer.Retry.BackoffFunc(30, 0); got != time.Second {
		t.Errorf("back-off after 30 retries = %v; want capped at 1s", got)
	}

	c.Producer.LingerMs = 0
	sc, err = c.producerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if sc.Producer.Flush.Bytes != 0 || sc.Producer.Flush.Frequency != 0 {
		t.Errorf("linger 0: Flush.Bytes = %d, Frequency = %v; want 0, 0", sc.Producer.Flush.Bytes, sc.Producer.Flush.Frequency)
	}
}

func TestConsumerConfigMapping(t *testing.T) {
	c := DefaultConfig()
	sc, err := c.consumerConfig()
	if err != nil {
		t.Fatalf("consumerConfig() = %v", err)
	}
	if sc.Consumer.Offsets.Initial != sarama.OffsetNewest {
		t.Errorf("Offsets.Initial = %d; want newest (latest)", sc.Consumer.Offsets.Initial)
	}
	c.Consumer.AutoOffsetReset = OffsetEarliest
	if sc, _ = c.consumerConfig(); sc.Consumer.Offsets.Initial != sarama.OffsetOldest {
		t.Errorf("earliest: Offsets.Initial = %d; want oldest", sc.Consumer.Offsets.Initial)
	}
}

// Static membership and the assignors reach sarama: the instance id as
// given, and the protocol the named assignors share (cooperative only
// when every one is cooperative).
func TestConsumerConfigMembership(t *testing.T) {
	tests := []struct {
		strategy string
		names    []string
		protocol string
	}{
		{"", []string{"range"}, "eager"},
		{"sticky", []string{"sticky"}, "eager"},
		{"cooperative-sticky", []string{"cooperative-sticky"}, "cooperative"},
		{"cooperative-sticky,range", []string{"cooperative-sticky", "range"}, "eager"},
		{"roundrobin", []string{"roundrobin"}, "eager"},
	}
	for _, tt := range tests {
		t.Run(tt.strategy, func(t *testing.T) {
			c := DefaultConfig()
			c.Consumer.GroupInstanceID = "r1"
			c.Consumer.PartitionAssignmentStrategy = tt.strategy
			sc, err := c.consumerConfig()
			if err != nil {
				t.Fatalf("consumerConfig() = %v", err)
			}
			if sc.Consumer.Group.InstanceId != "r1" {
				t.Errorf("InstanceId = %q; want r1", sc.Consumer.Group.InstanceId)
			}
			var names []string
			cooperative := true
			for _, s := range sc.Consumer.Group.Rebalance.GroupStrategies {
				names = append(names, s.Name())
				p, ok := s.(sarama.RebalanceProtocolBalanceStrategy)
				if !ok || !slices.Contains(p.SupportedProtocols(), sarama.RebalanceProtocolCooperative) {
					cooperative = false
				}
			}
			if !slices.Equal(names, tt.names) {
				t.Errorf("strategies %v; want %v", names, tt.names)
			}
			if got := map[bool]string{true: "cooperative", false: "eager"}[cooperative]; got != tt.protocol {
				t.Errorf("protocol %s; want %s", got, tt.protocol)
			}
			if !sc.Version.IsAtLeast(sarama.V2_4_0_0) {
				t.Errorf("Version %v; static membership needs 2.3, cooperative 2.4", sc.Version)
			}
		})
	}
}
