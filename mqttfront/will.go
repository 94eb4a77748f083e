package mqttfront

import (
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

// publishWill publishes a will: to the Sink (it is a publish from that
// client) and to local subscribers.
func (s *Server) publishWill(m *Message) {
	if !s.allow(auth.ActionPublish, m.Username, m.ClientID, m.Topic) || isSys(m.Topic) {
		s.stats.drop(DropNotAuthorized)
		s.log.Info("mqtt: will not authorized", zap.String("client", m.ClientID), zap.String("topic", m.Topic))
		return
	}
	m.ReceivedAt = timeNow()
	if m.Retain {
		s.retainWill(m) // beyond the limits: still published, not retained (counted, logged)
	}
	var done func(error)
	if m.QoS > 0 {
		log := s.log
		done = func(err error) {
			if err != nil {
				log.Warn("mqtt: sink refused will", zap.String("client", m.ClientID), zap.String("topic", m.Topic), zap.Error(err))
			}
		}
	}
	held := s.holdRoutes()
	_ = s.route(m, m.ClientID)
	done = s.routeRemote(m, m.ClientID, done)
	s.releaseRoutes(held)
	s.sink.Submit(m, done)
}

// publishWillOnRestore: a will whose session expired while the server was
// down goes to the Sink and retained store only (no one is connected yet).
func (s *Server) publishWillOnRestore(m *Message) {
	m.ReceivedAt = timeNow()
	if m.Retain {
		s.retainWill(m) // beyond the limits: not retained, counted, logged
	}
	var done func(error)
	if m.QoS > 0 {
		done = func(error) {}
	}
	s.sink.Submit(m, done)
}
