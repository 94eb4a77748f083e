package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
)

// ErrSuperseded is returned by Claim when a later claim for the same client
// was already in the log when this replica read its own: the CONNECT lost
// the race and must not be answered with a CONNACK.
var ErrSuperseded = errors.New("session claimed by a later CONNECT")

// Owner is who owns a session after the claims applied so far.
type Owner struct {
	Replica     string
	Incarnation uint64
	Epoch       int64 // the offset of the winning claim in its partition
}

// Claims decides session ownership by log order in the session's
// partition of the sessions topic: the later claim wins (README.md,
// "Epochs and fencing").
type Claims struct {
	replica     string
	incarnation uint64
	topic       string
	partitions  int32
	producer    sarama.SyncProducer
	table       *Table
	// onSuperseded is told, on the table's goroutine, when a claim this
	// incarnation made is superseded by a later one. It must not block.
	onSuperseded func(clientID string, lost Owner, by Owner)

	mu     sync.Mutex
	owners map[string]Owner
}

func newClaims(replica string, incarnation uint64, topic string, partitions int32) *Claims {
	return &Claims{replica: replica, incarnation: incarnation, topic: topic, partitions: partitions, owners: map[string]Owner{}}
}

// OnSuperseded sets the callback told when one of this replica's claims is
// superseded. Set it before Run.
func (c *Claims) OnSuperseded(fn func(clientID string, lost, by Owner)) { c.onSuperseded = fn }

// Partition is the sessions partition of a client id: Java murmur2, the
// same in every replica and Kafka tool.
func (c *Claims) Partition(clientID string) int32 {
	return kafka.Partition([]byte(clientID), c.partitions)
}

// Claim claims clientID's session for this replica and returns the new
// owner (its epoch is the claim's offset) once this replica has applied
// its own claim (read your own write). ErrSuperseded: a later claim was
// already applied by then.
func (c *Claims) Claim(ctx context.Context, clientID string, rec claimRecord) (Owner, error) {
	rec.Owner, rec.Incarnation = c.replica, c.incarnation
	if rec.At.IsZero() {
		rec.At = time.Now()
	}
	p := c.Partition(clientID)
	msg := &sarama.ProducerMessage{Topic: c.topic, Partition: p, Key: sarama.StringEncoder(clientID), Value: sarama.ByteEncoder(rec.encode())}
	// SendMessage cannot be cancelled: it is bounded by the producer's
	// retries and timeouts; ctx bounds the wait for the read-back.
	_, off, err := c.producer.SendMessage(msg)
	if err != nil {
		return Owner{}, fmt.Errorf("produce claim: %w", err)
	}
	if err := c.table.WaitApplied(ctx, p, off); err != nil {
		return Owner{}, fmt.Errorf("read back claim: %w", err)
	}
	c.mu.Lock()
	o := c.owners[clientID]
	c.mu.Unlock()
	if o.Epoch != off {
		return o, ErrSuperseded
	}
	return o, nil
}

// Owner returns the current owner of clientID's session.
func (c *Claims) Owner(clientID string) (Owner, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.owners[clientID]
	return o, ok
}

// The applier of the sessions table. The cache keeps, per client id, the
// derived owner: epoch uv | incarnation uv | replica (rest).

func (c *Claims) reset() {
	c.mu.Lock()
	c.owners = map[string]Owner{}
	c.mu.Unlock()
}

func encodeOwner(o Owner) []byte {
	b := binary.AppendUvarint(nil, uint64(o.Epoch))
	b = binary.AppendUvarint(b, o.Incarnation)
	return append(b, o.Replica...)
}

func decodeOwner(v []byte) (Owner, error) {
	e, n := binary.Uvarint(v)
	if n <= 0 {
		return Owner{}, fmt.Errorf("%w: cached owner", ErrCorrupt)
	}
	inc, m := binary.Uvarint(v[n:])
	if m <= 0 {
		return Owner{}, fmt.Errorf("%w: cached owner", ErrCorrupt)
	}
	return Owner{Epoch: int64(e), Incarnation: inc, Replica: string(v[n+m:])}, nil
}

func (c *Claims) restore(k, v []byte) error {
	o, err := decodeOwner(v)
	if err != nil {
		return fmt.Errorf("client %q: %w", k, err)
	}
	c.mu.Lock()
	c.owners[string(k)] = o
	c.mu.Unlock()
	return nil
}

func (c *Claims) apply(r *Record) ([]byte, error) {
	id := string(r.Key)
	c.mu.Lock()
	prev, had := c.owners[id]
	c.mu.Unlock()
	if r.Value == nil {
		// A tombstone ends a session only once it is ended; the state and
		// ended records are the next step (README.md). Until then the
		// owner stays.
		if had {
			return encodeOwner(prev), nil
		}
		return nil, nil
	}
	kind, err := recordKind(r.Value)
	if err != nil {
		return nil, err
	}
	if kind != kindClaim {
		return nil, fmt.Errorf("%w: kind %d in the sessions topic is not handled by this build", ErrCorrupt, kind)
	}
	cr, err := decodeClaim(r.Value)
	if err != nil {
		return nil, err
	}
	o := Owner{Replica: cr.Owner, Incarnation: cr.Incarnation, Epoch: r.Offset}
	c.mu.Lock()
	c.owners[id] = o
	c.mu.Unlock()
	if had && prev.Replica == c.replica && prev.Incarnation == c.incarnation && c.onSuperseded != nil {
		c.onSuperseded(id, prev, o)
	}
	return encodeOwner(o), nil
}
