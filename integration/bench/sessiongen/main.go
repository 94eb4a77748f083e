// Command sessiongen writes synthetic persistent sessions into a cluster's
// sessions topic (<cluster.topic_prefix>sessions), as if N MQTT 3.1.1
// devices had connected with clean session false, subscribed and gone
// offline: per session a claim, then --records - 1 state records under the
// claim's epoch (its offset), the last one offline. It is the K3 benchmark's
// way to a sessions log of 100,000 sessions in seconds, without 100,000
// connections (run.sh K3). Run it while no replica of the cluster runs: a
// replica's janitor would take the generated owner, which has no heartbeat,
// for a dead replica and reap the sessions still online in the log.
//
//	sessiongen --kafka-bootstrap 127.0.0.1:9092 --topic bench.k3.sessions --sessions 100000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/pflag"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

type config struct {
	bootstrap   []string
	topic       string
	sessions    int
	first       int
	prefix      string
	owner       string
	incarnation uint64
	records     int
	subs        int
	filter      string
	jsonPath    string
}

// summary is what a run wrote.
type summary struct {
	Topic      string  `json:"topic"`
	Partitions int32   `json:"partitions"`
	Sessions   int     `json:"sessions"`
	Records    int     `json:"records"`
	Seconds    float64 `json:"seconds"`
	PerSec     float64 `json:"records_per_sec"`
}

func main() {
	var c config
	fs := pflag.NewFlagSet("sessiongen", pflag.ContinueOnError)
	fs.StringSliceVar(&c.bootstrap, "kafka-bootstrap", []string{"127.0.0.1:9092"}, "Kafka bootstrap servers")
	fs.StringVar(&c.topic, "topic", "", "the sessions topic (<cluster.topic_prefix>sessions); it must exist: a replica's first start creates it")
	fs.IntVar(&c.sessions, "sessions", 100000, "sessions to write")
	fs.IntVar(&c.first, "first", 0, "number of the first session (client id = --client-prefix + number), to add sessions to an earlier run's")
	fs.StringVar(&c.prefix, "client-prefix", "gen-", "client id prefix")
	fs.StringVar(&c.owner, "owner", "sessiongen", "the replica id named as the sessions' owner (offline sessions of a replica that is not running)")
	fs.Uint64Var(&c.incarnation, "incarnation", 1, "the owner's incarnation")
	fs.IntVar(&c.records, "records", 2, "records per session: a claim, then records-1 states (the last offline); a real device writes claim, state at CONNACK, state per SUBSCRIBE, offline state")
	fs.IntVar(&c.subs, "subs", 1, "subscriptions per session")
	fs.StringVar(&c.filter, "filter", "devices/{client}/cmd/{n}", "subscription filter pattern: {client} = client id, {n} = subscription number")
	fs.StringVar(&c.jsonPath, "json", "", "also write the summary as JSON to this file")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sessiongen: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("sessiongen: %d sessions (%d records) into %s (%d partitions) in %.2fs: %.0f records/s\n",
		sum.Sessions, sum.Records, sum.Topic, sum.Partitions, sum.Seconds, sum.PerSec)
	if c.jsonPath != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		if err := os.WriteFile(c.jsonPath, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "sessiongen: %v\n", err)
			os.Exit(1)
		}
	}
}

func run(ctx context.Context, c config) (*summary, error) {
	if c.topic == "" {
		return nil, errors.New("--topic is required")
	}
	if c.records < 2 || c.sessions <= 0 || c.subs < 0 {
		return nil, fmt.Errorf("--records %d, --sessions %d, --subs %d: want at least 2, 1 and 0", c.records, c.sessions, c.subs)
	}
	if !strings.Contains(c.filter, "{client}") {
		return nil, fmt.Errorf("--filter %q: want {client}, so that every session has its own topics", c.filter)
	}
	sc := sarama.NewConfig()
	sc.ClientID = "sessiongen"
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = sarama.NewManualPartitioner // murmur2 of the client id, as the replicas
	sc.Producer.Return.Successes = true
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Producer.Flush.MaxMessages = 10000
	sc.Producer.Compression = sarama.CompressionLZ4
	cl, err := sarama.NewClient(c.bootstrap, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	parts, err := cl.Partitions(c.topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s (start a replica once to create it): %w", c.topic, err)
	}
	n := int32(len(parts))
	p, err := sarama.NewAsyncProducerFromClient(cl)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	defer p.Close()

	now := time.Now()
	sessions := make([]session, c.sessions)
	for i := range sessions {
		s := &sessions[i]
		s.ClientID = fmt.Sprintf("%s%d", c.prefix, c.first+i)
		s.Owner, s.Incarnation, s.Version, s.Expiry, s.At = c.owner, c.incarnation, 4, 0xFFFFFFFF, now
		for j := 0; j < c.subs; j++ {
			s.Filters = append(s.Filters, strings.NewReplacer("{client}", s.ClientID, "{n}", fmt.Sprint(j)).Replace(c.filter))
		}
	}
	epochs := make([]int64, len(sessions))
	start := time.Now()
	// One pass per record position, each after the previous one is acked:
	// a session's records are in log order whatever the retries.
	for k := 0; k < c.records; k++ {
		value := func(i int) []byte {
			switch {
			case k == 0:
				return sessions[i].claim()
			default:
				return sessions[i].state(epochs[i], k == c.records-1)
			}
		}
		if err := produceAll(ctx, p, c.topic, n, sessions, value, func(i int, off int64) {
			if k == 0 {
				epochs[i] = off // a claim's epoch is its offset
			}
		}); err != nil {
			return nil, err
		}
	}
	el := time.Since(start)
	records := c.sessions * c.records
	return &summary{Topic: c.topic, Partitions: n, Sessions: c.sessions, Records: records, Seconds: el.Seconds(), PerSec: float64(records) / el.Seconds()}, nil
}

// produceAll sends value(i) for every session, keyed by its client id, and
// waits for all acks; acked gets each record's offset.
func produceAll(ctx context.Context, p sarama.AsyncProducer, topic string, n int32, sessions []session, value func(int) []byte, acked func(i int, off int64)) error {
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var first error
		for got := 0; got < len(sessions); got++ {
			select {
			case m, ok := <-p.Successes():
				if !ok {
					errc <- errors.New("producer closed")
					return
				}
				acked(m.Metadata.(int), m.Offset)
			case e, ok := <-p.Errors():
				if !ok {
					errc <- errors.New("producer closed")
					return
				}
				if first == nil {
					first = fmt.Errorf("produce %s: %w", topic, e.Err)
				}
			}
		}
		errc <- first
	}()
	for i := range sessions {
		key := []byte(sessions[i].ClientID)
		m := &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(value(i)),
			Partition: kafka.Partition(key, n), Metadata: i}
		select {
		case p.Input() <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-done:
		return <-errc
	case <-ctx.Done():
		return ctx.Err()
	}
}
