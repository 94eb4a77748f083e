package cluster

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// ErrNotRunning is given to SetRetained's completion while the node is not
// running (before Run started its producer, or after it stopped).
var ErrNotRunning = fmt.Errorf("cluster node not running: %w", mqttfront.ErrUnavailable)

// RetainedTarget is where the retained table applies what it reads, in
// log order: the MQTT front end's retained trie.
type RetainedTarget interface {
	// ApplyRetained sets (m) or clears (nil m) topic's retained message.
	ApplyRetained(topic string, m *mqttfront.Message)
	// ResetRetained drops every retained message (a rebuild).
	ResetRetained()
}

var _ RetainedTarget = (*mqttfront.Server)(nil)

// Retained is the retained-messages table (README.md, "Retained"): it
// produces every retained set or clear to the retained topic (key = MQTT
// topic, a clear is a tombstone) and applies the topic, in log order, to
// its target. The target is never updated ahead of the log: a replica's
// own publish reaches its trie when its reader applies the record, like
// everyone else's. It implements mqttfront.RetainedStore.
type Retained struct {
	topic  string
	log    *zap.Logger
	target RetainedTarget
	table  *Table

	mu         sync.RWMutex // guards producer and partitions against Run's start and end
	producer   sarama.AsyncProducer
	partitions int32

	sets, clears     atomic.Uint64 // records applied
	produced, failed atomic.Uint64 // SetRetained outcomes
}

var _ mqttfront.RetainedStore = (*Retained)(nil)

func newRetained(topic string, log *zap.Logger) *Retained {
	return &Retained{topic: topic, log: log, target: discardRetained{}}
}

// Attach sets the target the table applies to. Call it before Run.
func (r *Retained) Attach(t RetainedTarget) { r.target = t }

// RetainedStats are the retained table's counters.
type RetainedStats struct {
	Sets, Clears     uint64 // records applied (from the cache at start or the log)
	Produced, Failed uint64 // SetRetained calls acknowledged by Kafka, or failed
}

// Stats returns the counters.
func (r *Retained) Stats() RetainedStats {
	return RetainedStats{Sets: r.sets.Load(), Clears: r.clears.Load(), Produced: r.produced.Load(), Failed: r.failed.Load()}
}

// SetRetained produces m as the retained message of m.Topic (an empty
// payload produces a tombstone) with acks=all, through one idempotent
// producer so that changes to one topic from this replica keep their order.
// done is called from the producer's goroutine once Kafka acknowledged or
// refused the record.
func (r *Retained) SetRetained(m *mqttfront.Message, done func(error)) {
	var value sarama.Encoder // nil: a tombstone, not an empty value
	if len(m.Payload) > 0 {
		value = sarama.ByteEncoder(encodeRetained(m))
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.producer == nil {
		r.failed.Add(1)
		done(ErrNotRunning)
		return
	}
	r.producer.Input() <- &sarama.ProducerMessage{Topic: r.topic, Partition: kafka.Partition([]byte(m.Topic), r.partitions),
		Key: sarama.StringEncoder(m.Topic), Value: value, Metadata: done}
}

// start hands the table a running producer; stop (from Run, at its end)
// takes it back, closes it and waits until every pending completion ran.
func (r *Retained) start(p sarama.AsyncProducer, partitions int32) (stop func()) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range p.Successes() {
			r.produced.Add(1)
			m.Metadata.(func(error))(nil)
		}
	}()
	go func() {
		defer wg.Done()
		for e := range p.Errors() {
			r.failed.Add(1)
			r.log.Warn("cluster: retained record not produced", zap.Any("mqtt_topic", e.Msg.Key), zap.Error(e.Err))
			e.Msg.Metadata.(func(error))(fmt.Errorf("retained record: %w: %w", mqttfront.ErrUnavailable, e.Err))
		}
	}()
	r.mu.Lock()
	r.producer, r.partitions = p, partitions
	r.mu.Unlock()
	return func() {
		r.mu.Lock() // waits for SetRetained calls inside Input()
		r.producer = nil
		r.mu.Unlock()
		p.AsyncClose() // flushes what is in flight; Successes and Errors close after
		wg.Wait()
	}
}

// The applier of the retained table. The cache keeps the record value.

func (r *Retained) reset() { r.target.ResetRetained() }

func (r *Retained) restore(k, v []byte) error {
	m, err := decodeRetained(string(k), v)
	if err != nil {
		return fmt.Errorf("retained %q: %w", k, err)
	}
	r.sets.Add(1)
	r.target.ApplyRetained(string(k), m)
	return nil
}

func (r *Retained) apply(rec *Record) ([]byte, error) {
	if len(rec.Key) == 0 {
		return nil, fmt.Errorf("%w: retained record without a key (the MQTT topic)", ErrCorrupt)
	}
	topic := string(rec.Key)
	if rec.Value == nil {
		r.clears.Add(1)
		r.target.ApplyRetained(topic, nil)
		return nil, nil
	}
	m, err := decodeRetained(topic, rec.Value)
	if err != nil {
		return nil, err
	}
	r.sets.Add(1)
	r.target.ApplyRetained(topic, m)
	return rec.Value, nil
}

// discardRetained is the target until Attach: the table still reads and
// caches, nothing is applied.
type discardRetained struct{}

func (discardRetained) ApplyRetained(string, *mqttfront.Message) {}
func (discardRetained) ResetRetained()                           {}
