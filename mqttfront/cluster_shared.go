package mqttfront

// Shared subscriptions in cluster mode (cluster/README.md, "Shared
// subscriptions"): a $share group may have members on several replicas,
// and each message goes to exactly one member in the cluster. The router
// decides which replica delivers it; that replica picks one of its members
// as on one node (pickShared: round-robin, connected first, the ACL on
// delivery). With no SharedRouter set, groups are per replica, as before.

import (
	"strings"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// SharedRouter is a RemoteRouter that also routes $share groups across
// replicas. When the router set by SetRemoteRouter is one, route leaves
// every shared group of a message (but $SYS) to Route, which sends the
// message for each matching group either to one other replica holding
// members or, when it picks this one, to DeliverTargets here, never both.
type SharedRouter interface {
	RemoteRouter
	// RouteShared is Route for the $share groups only, for a message
	// that every replica delivers to its own plain subscribers itself (a
	// will the cluster fired: DeliverWill at each, UplinkWill once). Its
	// done is Route's.
	RouteShared(m *Message, from string, done func(error))
}

// routeSharedOnly hands m's $share groups to the router (cluster mode,
// UplinkWill) and returns the completion to give the Sink instead of
// done, as routeRemote does; without a SharedRouter, done itself.
func (s *Server) routeSharedOnly(m *Message, from string, done func(error)) func(error) {
	if !s.sharedRouted || isSys(m.Topic) {
		return done
	}
	sr := s.router.(SharedRouter)
	if done == nil {
		sr.RouteShared(m, from, nil)
		return nil
	}
	j := &remoteJoin{left: 2, done: done}
	sr.RouteShared(m, from, j.complete)
	return j.complete
}

// Targets names whom a copy is for: sessions by client id, and $share
// groups by their full filter ("$share/{group}/{filter}"), for one member
// of each group.
type Targets struct {
	Clients []string
	Groups  []string
}

// pickGroups picks, for each group of keys, one member held here among
// shared (the matching subscriptions by group filter): pickShared's rule
// (round-robin, connected first, allowed by the ACL to receive m.Topic)
// among the members whose session this replica holds. It returns the
// deliveries and the groups with no member to take it; a group whose
// members here are all denied by the ACL is counted here
// (delivery_not_authorized) and returned too: another replica's members
// may be allowed.
func (s *Server) pickGroups(m *Message, keys []string, shared map[string][]topics.Sub) (picks []target, missing []string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, key := range keys {
		members := shared[key]
		held := members[:0]
		for _, sub := range members {
			if ss := s.sessions[sub.ClientID]; ss != nil && !ss.movedAway() {
				held = append(held, sub)
			}
		}
		if len(held) == 0 {
			missing = append(missing, key)
			continue
		}
		sub, ok := s.pickShared(key, held, m.Topic)
		if !ok {
			s.deliveryDenied(strings.Clone(key), "", m.Topic)
			missing = append(missing, key)
			continue
		}
		picks = append(picks, sharedTarget(sub, m.QoS, s.sessions[sub.ClientID]))
	}
	return picks, missing
}
