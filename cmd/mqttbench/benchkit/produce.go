package benchkit

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// ProduceConfig is the `kafka-produce` mode: the Kafka limit. A bare sarama
// async producer writes Records records of Size bytes to Topic, over Keys
// keys, with the bridge's producer settings (acks=all, lz4, idempotent,
// one request in flight, 5 ms linger by default, 1 MiB batches).
type ProduceConfig struct {
	Bootstrap   []string
	Topic       string
	Records     int
	Size        int
	Keys        int
	Compression string // none | lz4 | snappy | gzip | zstd
	Acks        string // all | 1 | 0
	Idempotent  bool
	// Inflight bounds the records sent but not yet answered (0: no bound).
	// Set to a pub run's conns x inflight, it holds the Kafka path to the
	// same window the MQTT devices have.
	Inflight int
	// Linger is sarama's Flush.Frequency (0: send at once, batching only
	// while a request is in flight), as the bridge's linger_ms.
	Linger time.Duration
	// Producers is the number of sarama AsyncProducers, each with its own
	// client (connections, producer id), each owning the partitions p with
	// p % Producers == its index; records are partitioned here (FNV-1a of
	// the key), so a key always goes through the same producer. 0 or 1:
	// one producer, sarama's hash partitioner.
	Producers int
	// MaxOpenRequests is sarama's Net.MaxOpenRequests when not idempotent
	// (0: sarama's default, 5).
	MaxOpenRequests int
}

// ProduceSummary is what `kafka-produce` measured.
type ProduceSummary struct {
	Records    uint64            `json:"records"`
	Acked      uint64            `json:"acked"`
	Seconds    float64           `json:"seconds"`
	PerSec     float64           `json:"acked_per_sec"`
	MBPerSec   float64           `json:"mb_per_sec"`
	AckLatency Quantiles         `json:"ack_latency"`
	Errors     map[string]uint64 `json:"errors"`
}

// RunProduce runs the kafka-produce mode.
func RunProduce(ctx context.Context, cfg ProduceConfig, progressW io.Writer) (*Summary, error) {
	if cfg.Keys <= 0 {
		cfg.Keys = 1
	}
	sc := sarama.NewConfig()
	sc.ClientID = "mqttbench-produce"
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Flush.Frequency = cfg.Linger
	if cfg.Linger > 0 {
		sc.Producer.Flush.Bytes = 1 << 20
	}
	sc.Producer.MaxMessageBytes = 1 << 20
	sc.Producer.Partitioner = sarama.NewHashPartitioner
	switch cfg.Acks {
	case "1":
		sc.Producer.RequiredAcks = sarama.WaitForLocal
	case "0":
		sc.Producer.RequiredAcks = sarama.NoResponse
	default:
		sc.Producer.RequiredAcks = sarama.WaitForAll
	}
	if err := sc.Producer.Compression.UnmarshalText([]byte(cfg.Compression)); err != nil && cfg.Compression != "" {
		return nil, fmt.Errorf("compression %q: %w", cfg.Compression, err)
	}
	if cfg.Idempotent {
		sc.Producer.Idempotent = true
		sc.Net.MaxOpenRequests = 1
		sc.Producer.Retry.Max = 10
	} else if cfg.MaxOpenRequests > 0 {
		sc.Net.MaxOpenRequests = cfg.MaxOpenRequests
	}
	sc.Version = sarama.V3_0_0_0
	n := max(cfg.Producers, 1)
	var nparts int32
	if n > 1 {
		sc.Producer.Partitioner = sarama.NewManualPartitioner
		c, err := sarama.NewClient(cfg.Bootstrap, sc)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		parts, err := c.Partitions(cfg.Topic)
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", cfg.Topic, err)
		}
		nparts = int32(len(parts))
	}
	aps := make([]sarama.AsyncProducer, n)
	for i := range aps {
		p, err := sarama.NewAsyncProducer(cfg.Bootstrap, sc)
		if err != nil {
			for _, q := range aps[:i] {
				q.AsyncClose()
			}
			return nil, fmt.Errorf("producer: %w", err)
		}
		aps[i] = p
	}
	sum := &Summary{Mode: "kafka-produce", Started: time.Now(), Config: cfg}
	var lat Hist
	var errs Errors
	var acked atomic.Uint64
	var window chan struct{}
	if cfg.Inflight > 0 {
		window = make(chan struct{}, cfg.Inflight)
	}
	release := func() {
		if window != nil {
			<-window
		}
	}
	var returns sync.WaitGroup
	for _, p := range aps {
		returns.Go(func() {
			succ, fail := p.Successes(), p.Errors()
			for succ != nil || fail != nil {
				select {
				case m, ok := <-succ:
					if !ok {
						succ = nil
						continue
					}
					lat.RecordDuration(time.Since(m.Metadata.(time.Time)))
					acked.Add(1)
					release()
				case e, ok := <-fail:
					if !ok {
						fail = nil
						continue
					}
					errs.Add(reason(e.Err))
					release()
				}
			}
		})
	}
	var last uint64
	stop := progress(ctx, progressW, func(el time.Duration) string {
		n := acked.Load()
		s := fmt.Sprintf("%5s acked/s %8d p99 %7.2fms errors %d", el, n-last, float64(lat.Quantile(0.99))/1e6, errs.Total())
		last = n
		return s
	})
	start := time.Now()
	keys := make([]sarama.Encoder, cfg.Keys)
	parts := make([]int32, cfg.Keys) // FNV-1a of the key, for Producers > 1
	for i := range keys {
		k := fmt.Sprintf("bench%d", i)
		keys[i] = sarama.StringEncoder(k)
		h := fnv.New32a()
		h.Write([]byte(k))
		parts[i] = int32(h.Sum32() & 0x7fffffff)
	}
	sent := 0
	for ; sent < cfg.Records && ctx.Err() == nil; sent++ {
		if window != nil {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				continue
			}
		}
		now := time.Now()
		v := EncodePayload(nil, fmt.Sprintf("bench%d", sent%cfg.Keys), uint64(sent/cfg.Keys), now, cfg.Size)
		m := &sarama.ProducerMessage{Topic: cfg.Topic, Key: keys[sent%cfg.Keys], Value: sarama.ByteEncoder(v), Metadata: now}
		p := aps[0]
		if n > 1 {
			m.Partition = parts[sent%cfg.Keys] % nparts
			p = aps[m.Partition%int32(n)]
		}
		select {
		case p.Input() <- m:
		case <-ctx.Done():
		}
	}
	// Close only once every record has its outcome: records still being
	// retried when the producer shuts down would fail with ErrShuttingDown.
	for acked.Load()+errs.Total() < uint64(sent) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	for _, p := range aps {
		p.AsyncClose()
	}
	returns.Wait()
	el := time.Since(start)
	stop()
	ps := &ProduceSummary{Records: uint64(sent), Acked: acked.Load(), Seconds: el.Seconds(), AckLatency: lat.Summary(), Errors: errs.Snapshot()}
	ps.PerSec = float64(ps.Acked) / el.Seconds()
	ps.MBPerSec = ps.PerSec * float64(max(cfg.Size, headerLen)) / 1e6
	sum.Window = el.Seconds()
	sum.Produce = ps
	return sum, nil
}
