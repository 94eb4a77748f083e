// Command kafkaping asks a Kafka broker for cluster metadata and exits 0 only
// when it answers with at least one live broker. integration/kafka.sh polls it
// to decide that a freshly started broker is ready for clients.
//
//	kafkaping [-timeout 3s] 127.0.0.1:9092
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/IBM/sarama"
)

func main() {
	timeout := flag.Duration("timeout", 3*time.Second, "dial and read timeout")
	flag.Parse()
	addr := "127.0.0.1:9092"
	if flag.NArg() > 0 {
		addr = flag.Arg(0)
	}
	if err := ping(addr, *timeout); err != nil {
		fmt.Fprintf(os.Stderr, "kafkaping %s: %v\n", addr, err)
		os.Exit(1)
	}
}

func ping(addr string, timeout time.Duration) error {
	cfg := sarama.NewConfig()
	cfg.ClientID = "kafkaping"
	cfg.Net.DialTimeout = timeout
	cfg.Net.ReadTimeout = timeout
	cfg.Net.WriteTimeout = timeout
	cfg.Metadata.Retry.Max = 0
	cfg.Metadata.Full = false

	b := sarama.NewBroker(addr)
	if err := b.Open(cfg); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer b.Close()
	md, err := b.GetMetadata(&sarama.MetadataRequest{Version: 4, AllowAutoTopicCreation: false})
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if len(md.Brokers) == 0 {
		return fmt.Errorf("metadata: no brokers registered yet")
	}
	if md.ControllerID < 0 {
		return fmt.Errorf("metadata: no active controller yet")
	}
	return nil
}
