package mqttfront

import (
	"sync"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// Cluster hooks, retained side (cluster/README.md, "Layering"). With no
// hook set (one node) every call site below is one nil check and takes the
// single-node path.

// Admission decides whether this replica takes CONNECTs now. In cluster
// mode a replica that has not caught up with the shared state refuses them
// itself (load balancers do not all honour /readyz).
type Admission interface {
	// Admit returns nil when a CONNECT may proceed, else why not (the text
	// is logged and, for v5, is the CONNACK's reason string).
	Admit() error
}

// RetainedStore keeps the retained messages in a store shared by every
// replica (cluster mode: a compacted Kafka topic). When one is set, the
// front end never changes its retained trie itself: it hands every retained
// set or clear to SetRetained, and the store applies what it reads back
// through ApplyRetained, in log order. mqtt.db then holds no retained
// messages (cluster/README.md, "Retained").
type RetainedStore interface {
	// SetRetained makes m the retained message of m.Topic; an empty payload
	// clears it [MQTT-3.3.1-6]. done(nil) once the change is durable in the
	// shared store, done(err) when it is not; done is called exactly once,
	// from any goroutine, and must not block. The limits (max_retained,
	// max_retained_bytes) were checked by the caller against what has been
	// applied so far.
	SetRetained(m *Message, done func(error))
}

// clusterRetained are the hooks of this file, set before Run.
type clusterRetained struct {
	admission     Admission
	retainedStore RetainedStore
}

// SetAdmission installs the admission check of cluster mode. Call it
// before Run.
func (s *Server) SetAdmission(a Admission) { s.admission = a }

// SetRetainedStore makes rs the source of retained messages (cluster
// mode). Call it before Run: Run then does not load retained messages from
// mqtt.db, and retained sets and clears go to rs.
func (s *Server) SetRetainedStore(rs RetainedStore) { s.retainedStore = rs }

// admit runs the admission check before a CONNECT is processed (before
// authentication: a refusal costs no password check). The refusal is
// counted by the caller (connect result, disconnect reason
// cluster_not_ready) and logged here, rate-limited as one key.
func (s *Server) admit(c *conn) error {
	if s.admission == nil {
		return nil
	}
	err := s.admission.Admit()
	if err != nil {
		s.logKeyed(zap.WarnLevel, admissionLogKey, "mqtt: connect refused: this replica is not ready",
			zap.String("listener", c.listener), zap.String("remote", c.nc.RemoteAddr().String()),
			zap.Stringer("reason", ReasonClusterNotReady), zap.Error(err))
	}
	return err
}

// admissionLogKey is the log limiter's key for admission refusals: one
// line per window for all clients (a fleet reconnecting to a replica that
// catches up would otherwise log a line per device).
const admissionLogKey = "\x00cluster admission"

// ApplyRetained sets (m) or clears (nil m) the retained message of topic,
// as the shared store read it from its log: no limit is checked (every
// replica applies the same log), the byte count is kept. It may be called
// before Run (a cache restored at start).
func (s *Server) ApplyRetained(topic string, m *Message) {
	if m == nil {
		s.retainMu.Lock()
		if old, ok := s.retained.Get(topic); ok {
			s.retained.Delete(topic)
			s.retainedBytes -= msgSize(old)
		}
		s.retainMu.Unlock()
		return
	}
	m.Topic, m.Retain = topic, true
	s.putRetained(m)
}

// ResetRetained drops every retained message but the server's own $SYS
// topics (the shared store rebuilds from the start of its log).
func (s *Server) ResetRetained() {
	var drop []string
	s.retained.Match("#", func(topic string, _ *Message) bool { // '#' does not match $-topics [MQTT-4.7.2-1]
		drop = append(drop, topic)
		return true
	})
	for _, t := range drop {
		s.ApplyRetained(t, nil)
	}
}

// retainInbound handles the RETAIN flag of a device's PUBLISH before it is
// routed. One node: the retained message is set or cleared now. Cluster
// mode: only the limits are checked; shared says the record is to be
// produced (produceRetained) once the publish is accepted. err is
// ErrRetainedQuota when the message may not be retained.
func (s *Server) retainInbound(m *Message) (shared bool, err error) {
	if s.retainedStore == nil {
		return false, s.retain(m)
	}
	if err := s.retainQuota(m); err != nil {
		return false, err
	}
	return true, nil
}

// retainWill retains a will (Retain set). Beyond the limits it is still
// published, not retained (counted, logged); in cluster mode a failed
// produce is logged.
func (s *Server) retainWill(m *Message) {
	if _, err := s.retainInbound(m); err == nil && s.retainedStore != nil {
		s.produceRetained(m, nil)
	}
}

// retainPublish retains a message given to Publish and returns once it is
// retained, or why not: at once on one node; in cluster mode once the
// shared store has it (Publish stays synchronous for its callers).
func (s *Server) retainPublish(m *Message) error {
	shared, err := s.retainInbound(m)
	if !shared || err != nil {
		return err
	}
	ch := make(chan error, 1)
	s.retainedStore.SetRetained(m, func(err error) { ch <- err })
	return <-ch
}

// produceRetained hands m to the shared store. With done nil (QoS 0, a
// will) a failure is only logged and counted. Otherwise it returns the
// completion the Sink must call instead of done: done then runs once both
// the Sink and the store confirmed, with the first error, so the device's
// PUBACK/PUBREC waits for the retained record as for the Kafka record
// (cluster/README.md, "Durability").
func (s *Server) produceRetained(m *Message, done func(error)) func(error) {
	if done == nil {
		s.retainedStore.SetRetained(m, func(err error) {
			if err != nil {
				s.log.Warn("mqtt: retained message not stored in the cluster", zap.String("client", m.ClientID),
					zap.String("topic", m.Topic), zap.Error(err))
			}
		})
		return nil
	}
	j := &joinDone{left: 2, done: done}
	s.retainedStore.SetRetained(m, j.one)
	return j.one
}

// joinDone calls done once left completions arrived, with the first error.
type joinDone struct {
	mu   sync.Mutex
	left int
	err  error
	done func(error)
}

func (j *joinDone) one(err error) {
	j.mu.Lock()
	if j.err == nil {
		j.err = err
	}
	j.left--
	last, first := j.left == 0, j.err
	j.mu.Unlock()
	if last {
		j.done(first)
	}
}

// retainQuota says whether m may become a retained message under
// max_retained and max_retained_bytes, given what is retained now; clearing
// and shrinking always may. A refusal is counted and logged.
func (s *Server) retainQuota(m *Message) error {
	if len(m.Payload) == 0 {
		return nil
	}
	size := msgSize(m)
	s.retainMu.Lock()
	l, over := s.retainLimitLocked(m, size)
	total := s.retainedBytes
	s.retainMu.Unlock()
	if over {
		return s.retainRefused(l, m, size, total)
	}
	return nil
}

// refuseNotReady is the CONNACK of a CONNECT the admission check refused:
// v5 0x88 Server unavailable, v3 0x03 Server unavailable.
var refuseNotReady = [2]packets.ReasonCode{packets.V3ServerUnavailable, packets.ServerUnavailable}
