package kafka

import "sync/atomic"

// Producer states on the hybrid path (ProducerStats.State, Producer.State).
const (
	StateDirect   = "direct"   // records go to Kafka through the window
	StateSpilling = "spilling" // new records go to the spool; the drainer waits for Kafka and the direct records in flight
	StateDraining = "draining" // the drainer replays the spool into Kafka; new records still go to its tail
	StateBlocked  = "blocked"  // the spool quota is full: Produce blocks (QoS 0 is shed)
)

// spillState is the hybrid path's state as a typed value.
type spillState uint32

const (
	stateDirect spillState = iota
	stateSpilling
	stateDraining
	stateBlocked
)

var stateNames = [...]string{StateDirect, StateSpilling, StateDraining, StateBlocked}

// String returns one of the State constants.
func (s spillState) String() string { return stateNames[s] }

// spillReason says why the route switched from direct to the spool. It is
// logged and counted (ProducerStats.SpillReasons), and it decides whether
// Kafka must pass a probe before the drain. A full window is not one: while
// Kafka keeps answering, a full window is overload, and Produce waits for a
// slot (README.md, "Overload is not an outage").
type spillReason uint8

const (
	spillAckSpool     spillReason = iota // an AckSpool record arrived
	spillNotConnected                    // Connected() was false
	spillKafkaSlow                       // Kafka stalled: a record waited spill_after_ms with no answer since, or while later records were answered
	spillKafkaError                      // sarama failed a direct record retriably
	numSpillReasons
)

// Spill reasons (ProducerStats.SpillReasons, ProducerStats.SpillReason).
const (
	SpillAckSpool     = "ack_spool"
	SpillNotConnected = "not_connected"
	SpillKafkaSlow    = "kafka_slow"
	SpillKafkaError   = "kafka_error"
)

var spillReasonNames = [numSpillReasons]string{SpillAckSpool, SpillNotConnected, SpillKafkaSlow, SpillKafkaError}

// String returns one of the Spill constants.
func (r spillReason) String() string { return spillReasonNames[r] }

// kafkaTrouble reports whether the spill says something about Kafka's
// health, so that the drainer must probe Kafka before it sends. An AckSpool
// record says nothing about Kafka.
func (r spillReason) kafkaTrouble() bool {
	return r != spillAckSpool
}

// spillCounters counts spills by reason.
type spillCounters [numSpillReasons]atomic.Uint64

func (c *spillCounters) add(r spillReason) { c[r].Add(1) }

// snapshot returns the counts by label, every reason present.
func (c *spillCounters) snapshot() map[string]uint64 {
	m := make(map[string]uint64, numSpillReasons)
	for r := range numSpillReasons {
		m[r.String()] = c[r].Load()
	}
	return m
}

// Drop reasons (ProducerStats.Dropped).
const (
	DropShedQoS0    = "shed_qos0"     // a record without Done, while the window and the spool quota were full
	DropShedAckNone = "shed_ack_none" // an AckNone record while the producer was not direct
	DropUndecodable = "spool_undecodable"
)

// dropReason is a Drop constant as a typed value.
type dropReason uint8

const (
	dropShedQoS0 dropReason = iota
	dropShedAckNone
	dropUndecodable
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{DropShedQoS0, DropShedAckNone, DropUndecodable}

// String returns one of the Drop constants.
func (r dropReason) String() string { return dropReasonNames[r] }

// dropCounters counts dropped records by reason.
type dropCounters [numDropReasons]atomic.Uint64

func (c *dropCounters) add(r dropReason) { c[r].Add(1) }

// snapshot returns the counts by label, every reason present.
func (c *dropCounters) snapshot() map[string]uint64 {
	m := make(map[string]uint64, numDropReasons)
	for r := range numDropReasons {
		m[r.String()] = c[r].Load()
	}
	return m
}
