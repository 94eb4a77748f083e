package cluster

import (
	"slices"
	"sync"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// routes is the route table (README.md, "Routing"): the subscriptions of
// every session in the cluster, online or offline, indexed by filter, and
// the replica owning each session. It is kept by the sessions table's
// applier (Claims) as it applies records, so it is as current as this
// replica's view of the sessions log. Shared subscriptions are kept apart,
// by group and holding replica (routes_share.go).
type routes struct {
	index  *topics.Index // ClientID = the session's client id
	shares *shareRoutes

	mu     sync.RWMutex
	owners map[string]string // client id -> owning replica
}

func newRoutes() *routes {
	return &routes{index: topics.NewIndex(), shares: newShareRoutes(), owners: map[string]string{}}
}

// set records the session clientID as e says it is; e nil, ended (no
// state) or with an unknown owner removes it. A nil table does nothing
// (routing not set up).
func (rt *routes) set(clientID string, e *entry) {
	if rt == nil {
		return
	}
	if e == nil || e.state == nil || e.owner.Replica == "" {
		rt.index.RemoveClient(clientID)
		rt.shares.set(clientID, "", false, nil)
		rt.mu.Lock()
		delete(rt.owners, clientID)
		rt.mu.Unlock()
		return
	}
	subs := e.state.Subscriptions
	keep := make(map[string]struct{}, len(subs))
	var shared []string
	for _, sub := range subs {
		if _, _, ok := topics.SplitShared(sub.Filter); ok {
			shared = append(shared, sub.Filter)
			continue
		}
		keep[sub.Filter] = struct{}{}
		sub.ClientID = clientID
		rt.index.Add(sub)
	}
	for _, old := range rt.index.ClientSubs(clientID) {
		if _, ok := keep[old.Filter]; !ok {
			rt.index.Remove(clientID, old.Filter)
		}
	}
	rt.shares.set(clientID, e.owner.Replica, e.state.DisconnectedAt.IsZero(), shared)
	rt.mu.Lock()
	rt.owners[clientID] = e.owner.Replica
	rt.mu.Unlock()
}

// reset empties the table (a rebuild of the sessions table).
func (rt *routes) reset() {
	if rt == nil {
		return
	}
	rt.shares.reset()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for id := range rt.owners {
		rt.index.RemoveClient(id)
	}
	clear(rt.owners)
}

// remote returns, per replica other than self, the sessions it owns that
// match topic (each once), leaving out from's No Local subscriptions. It
// returns nil, without allocating beyond buf's growth, when no other
// replica has a matching session.
func (rt *routes) remote(topic, from, self string, buf []topics.Sub) (map[string][]string, []topics.Sub) {
	buf = rt.index.Match(topic, buf[:0])
	if len(buf) == 0 {
		return nil, buf
	}
	var out map[string][]string
	var seen map[string]struct{} // beyond linearMatches: a session's overlapping subscriptions, once
	if len(buf) > linearMatches {
		seen = make(map[string]struct{}, len(buf))
	}
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	for i := range buf {
		sub := &buf[i]
		if sub.NoLocal && sub.ClientID == from {
			continue
		}
		owner := rt.owners[sub.ClientID]
		if owner == "" || owner == self {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		ids := out[owner]
		if seen != nil {
			if _, dup := seen[sub.ClientID]; dup {
				continue
			}
			seen[sub.ClientID] = struct{}{}
		} else if slices.Contains(ids, sub.ClientID) {
			continue
		}
		out[owner] = append(ids, sub.ClientID)
	}
	return out, buf
}

// linearMatches is how many matching subscriptions remote dedupes by a
// scan; beyond it, by a set (a topic with many subscribers costs O(n)).
const linearMatches = 16

// sessions reports how many sessions each replica owns in the table.
func (rt *routes) sessions() map[string]int {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	out := map[string]int{}
	for _, r := range rt.owners {
		out[r]++
	}
	return out
}
