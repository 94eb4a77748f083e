package cluster

import (
	"slices"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// Shared subscriptions across replicas (README.md, "Shared
// subscriptions"): for each message and each $share group matching it,
// the publishing replica chooses the one replica that delivers it
// (shareRoutes.pick: weighted round-robin over the replicas holding
// connected members), and that replica picks one of its members as on one
// node. A replica that has no member to take it (its view was stale, or
// the ACL denies its members the topic) forwards the group to another
// holder it was not tried at; with none left, the delivery is dropped and
// counted (DroppedShare), as on one node when no member may receive it.

// routeShares decides the replica for each group of m (group filters
// matching m.Topic) and delivers those it chose itself for here
// (mqttfront's DeliverTargets, which picks the member). It returns, per
// other replica, the groups to send there in its copy. A group this
// replica was chosen for but could not take goes to another holder.
func (r *Router) routeShares(m *mqttfront.Message, from string, groups []string) map[string][]shareTarget {
	sr := r.node.claims.routes.shares
	var out map[string][]shareTarget
	var local []string
	for _, g := range groups {
		replica, ok := sr.pick(g, nil)
		if !ok {
			continue // its last member left since the match
		}
		if replica == r.self {
			local = append(local, g)
			continue
		}
		r.stats.shareRemote.Add(1)
		if out == nil {
			out = map[string][]shareTarget{}
		}
		out[replica] = append(out[replica], shareTarget{Filter: g})
	}
	r.stats.shareLocal.Add(uint64(len(local)))
	if len(local) == 0 {
		return out
	}
	missing, err := r.front.DeliverTargets(m, from, mqttfront.Targets{Groups: local}, mqttfront.InboxMark{})
	if err != nil {
		// The message is queued in memory (store error) or the server
		// is closing; as for a local publish, the publisher is not told.
		r.stats.deliverErrors.Add(1)
		r.log.Error("cluster: shared subscription delivery here", zap.String("topic", m.Topic), zap.Error(err))
	}
	for _, g := range missing.Groups {
		out = r.forwardShare(out, m.Topic, shareTarget{Filter: g})
	}
	return out
}

// forwardShare adds group target t, which this replica could not deliver,
// to the copies in out, for another replica holding members where it was
// not tried; with none left, it is dropped and counted.
func (r *Router) forwardShare(out map[string][]shareTarget, topic string, t shareTarget) map[string][]shareTarget {
	tried := append(slices.Clip(t.Tried), r.self)
	replica, ok := r.node.claims.routes.shares.pick(t.Filter, tried)
	if !ok {
		r.stats.dropShare.Add(1)
		r.log.Warn("cluster: no replica has a member of the shared subscription to take the message; dropped",
			zap.String("group", t.Filter), zap.String("topic", topic), zap.Strings("tried", tried))
		return out
	}
	if out == nil {
		out = map[string][]shareTarget{}
	}
	out[replica] = append(out[replica], shareTarget{Filter: t.Filter, Tried: tried})
	return out
}
