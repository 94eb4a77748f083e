package kafka

import (
	"container/list"
	"sync/atomic"
	"time"
)

type envKind uint8

const (
	envDirect  envKind = iota // from Produce, through the window
	envDrained                // read back from the spool by the drainer
	envSpooled                // from Produce, appended to the spool (never in the window)
)

// copyState is where a direct record stands with its spool copy.
type copyState uint8

const (
	copyNone      copyState = iota // no copy
	copyBacklog                    // to be copied (the spill started; waiting for quota room)
	copyAppending                  // appended, fsync pending
	copyDurable                    // durable in the spool as copySeq; its device was answered
)

// envelope carries one record through the pipeline. Each group of fields
// belongs to one stage and is guarded by that stage's lock.
type envelope struct {
	rec      *Record
	accepted time.Time
	kind     envKind
	done     atomic.Bool // the Kafka outcome was counted (Produced/Failed)
	answered atomic.Bool // rec.Done and the ack hook ran

	// The window: its place in the pending list (direct records only); nil
	// once returned or expired. Guarded by window.mu.
	elem *list.Element
	// shard is 1 + the index of the producer the feeder handed it to, 0
	// while it waits in the queue (and always with one producer): whose
	// answers tell whether Kafka stalled on it (window.stuck).
	shard atomic.Int32

	// The spill's copy of a direct record; guarded by spill.cmu.
	copy     copyState
	copySeq  uint64 // with copyDurable
	returned bool   // sarama handed it back ...
	retErr   error  // ... with this error

	// The drainer's records: set before the record enters the window.
	seq, after uint64    // its spool seq, and the `after` that Next returned it for
	ts         time.Time // the acceptance time stored in the spool
	replay     bool      // left in the spool by an earlier run
	resolved   bool      // acked in the spool (delivered or refused for good); guarded by spill.dmu
}

// waiting reports whether e's device still waits for its answer on the
// hybrid path (so a spool copy would release it). Callers tolerate a stale
// answered flag: answering is idempotent.
func waiting(e *envelope) bool {
	return e.rec.Done != nil && e.rec.Mode == AckKafka && !e.answered.Load()
}
