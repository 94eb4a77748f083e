package kafka

import "github.com/IBM/sarama"

// SaramaConfig returns a sarama configuration carrying this Config's
// connection settings (client id, protocol version, TLS, SASL, metadata
// retries) and nothing else, for packages that talk to the same Kafka with
// their own clients (cluster/). The caller sets the producer and consumer
// options it needs.
func (c Config) SaramaConfig() (*sarama.Config, error) { return c.baseConfig() }
