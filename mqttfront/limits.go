package mqttfront

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// ErrRetainedQuota is given to a Publish completion when a retained message
// would take the retained store beyond max_retained or max_retained_bytes.
var ErrRetainedQuota = fmt.Errorf("retained store full: %w", ErrQuotaExceeded)

// errMaxSessions refuses a CONNECT that would create a session beyond
// max_sessions.
var errMaxSessions = fmt.Errorf("max_sessions reached: %w", packets.QuotaExceeded)

// Limit is one configured resource limit. Each time it refuses something it
// is counted (Stats.Limits, keyed by String, the config key) and logged, at
// most once a minute per limit (limitLogLines).
type Limit int

// Limits.
const (
	LimitRetained          Limit = iota // max_retained: retained topics
	LimitRetainedBytes                  // max_retained_bytes: retained bytes in total
	LimitQueuedMessages                 // max_queued_messages: one session's queue
	LimitSessionQueueBytes              // max_session_queue_bytes: one session's queue
	LimitSessions                       // max_sessions: sessions held
	LimitSubscriptions                  // max_subscriptions: one client's subscriptions

	// LimitSessionRecordBytes is cluster.max_session_record_bytes: one
	// session's state record in the cluster (cluster_sessions.go).
	LimitSessionRecordBytes
	numLimits
)

var limitNames = [...]string{"max_retained", "max_retained_bytes", "max_queued_messages",
	"max_session_queue_bytes", "max_sessions", "max_subscriptions", "cluster.max_session_record_bytes"}

func (l Limit) String() string {
	if l >= 0 && int(l) < len(limitNames) {
		return limitNames[l]
	}
	return "unknown"
}

// limitLogLines: log lines per limit per limitLogWindow; a limit under
// attack is hit on every message, the counter tells how often.
const (
	limitLogLines  = 1
	limitLogWindow = time.Minute
)

// limitHit counts a refusal by l and logs it, rate-limited per limit; the
// line says how many were suppressed since the last one.
func (s *Server) limitHit(l Limit, fields ...zap.Field) {
	s.stats.limits[l].Add(1)
	ce := s.log.Check(zap.WarnLevel, "mqtt: limit reached")
	if ce == nil {
		return
	}
	ok, n := s.limitLog.allow(l.String())
	if !ok {
		return
	}
	fields = append(fields, zap.String("limit", l.String()))
	if n > 0 {
		fields = append(fields, zap.Int("suppressed", n))
	}
	ce.Write(fields...)
}

// msgSize is what a message costs against the byte limits: topic, payload
// and the application properties it carries.
func msgSize(m *Message) int64 {
	p := &m.Properties
	n := len(m.Topic) + len(m.Payload) + len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData)
	for _, u := range p.User {
		n += len(u.Key) + len(u.Value)
	}
	return int64(n)
}

// retain stores or clears the retained message of m.Topic
// [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7]. A new or larger message
// that would take the store beyond max_retained or max_retained_bytes is
// not retained: counted, logged and ErrRetainedQuota returned. Clearing and
// shrinking always work.
func (s *Server) retain(m *Message) error {
	if len(m.Payload) == 0 {
		s.retainMu.Lock()
		old, ok := s.retained.Get(m.Topic)
		if ok {
			s.retained.Delete(m.Topic)
			s.retainedBytes -= msgSize(old)
		}
		s.retainMu.Unlock()
		if ok && s.store != nil {
			if err := s.store.DeleteRetained(m.Topic); err != nil {
				s.log.Error("mqtt: delete retained", zap.String("topic", m.Topic), zap.Error(err))
			}
		}
		return nil
	}
	size := msgSize(m)
	s.retainMu.Lock()
	if l, over := s.retainLimitLocked(m, size); over {
		total := s.retainedBytes
		s.retainMu.Unlock()
		return s.retainRefused(l, m, size, total)
	}
	var oldSize int64
	if old, ok := s.retained.Get(m.Topic); ok {
		oldSize = msgSize(old)
	}
	s.retained.Set(m.Topic, m)
	s.retainedBytes += size - oldSize
	s.retainMu.Unlock()
	if s.store != nil && !isSys(m.Topic) {
		if err := s.store.PutRetained(toStore(m, m.QoS, true)); err != nil {
			s.log.Error("mqtt: store retained", zap.String("topic", m.Topic), zap.Error(err))
		}
	}
	return nil
}

// retainLimitLocked returns the limit a retained message of size bytes
// for m.Topic would break (over true), given what is retained now.
// Replacing a message by one no larger always fits. Called with retainMu.
func (s *Server) retainLimitLocked(m *Message, size int64) (l Limit, over bool) {
	old, exists := s.retained.Get(m.Topic)
	var oldSize int64
	if exists {
		oldSize = msgSize(old)
	}
	switch {
	case !exists && s.retained.Len() >= s.cfg.MaxRetained:
		return LimitRetained, true
	case s.cfg.MaxRetainedBytes > 0 && size > oldSize && s.retainedBytes-oldSize+size > s.cfg.MaxRetainedBytes:
		return LimitRetainedBytes, true
	}
	return 0, false
}

// retainRefused counts and logs a retained message refused by l and
// returns ErrRetainedQuota. total is the retained bytes when it was
// refused.
func (s *Server) retainRefused(l Limit, m *Message, size, total int64) error {
	if l == LimitRetained {
		s.stats.drop(DropRetainedFull)
		s.limitHit(LimitRetained, zap.String("client", m.ClientID), zap.String("topic", m.Topic))
		return ErrRetainedQuota
	}
	s.stats.drop(DropRetainedQuota)
	s.limitHit(LimitRetainedBytes, zap.String("client", m.ClientID), zap.String("topic", m.Topic),
		zap.Int64("bytes", size), zap.Int64("retained_bytes", total))
	return ErrRetainedQuota
}

// putRetained sets a retained message without the limits ($SYS updates, a
// restore of what was accepted before), keeping the byte count right.
func (s *Server) putRetained(m *Message) {
	s.retainMu.Lock()
	if old, ok := s.retained.Get(m.Topic); ok {
		s.retainedBytes -= msgSize(old)
	}
	s.retained.Set(m.Topic, m)
	s.retainedBytes += msgSize(m)
	s.retainMu.Unlock()
}

// retainedSize returns the bytes held by retained messages.
func (s *Server) retainedSize() int64 {
	s.retainMu.Lock()
	defer s.retainMu.Unlock()
	return s.retainedBytes
}
