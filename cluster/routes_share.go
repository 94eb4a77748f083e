package cluster

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// shareRoutes is the route table's part for shared subscriptions
// (README.md, "Shared subscriptions"): per group filter
// ("$share/{group}/{filter}"), the replicas holding members of the group
// and how many, online and offline, from the sessions log. It is kept
// with the rest of the route table (routes.set), on the sessions table's
// goroutine.
type shareRoutes struct {
	// index holds one subscription per (group filter, holding replica),
	// ClientID = the replica: a match costs the replicas holding members,
	// not the members.
	index *topics.Index

	mu      sync.RWMutex
	groups  map[string]*shareGroup     // group filter -> its holders
	members map[string]shareMembership // client id -> what it counts in groups
}

// shareGroup is one group filter's holders.
type shareGroup struct {
	holders map[string]*memberCount // replica -> its members
	order   []string                // the holders' replica ids, sorted: the round-robin order
	// rr counts the picks this replica made for the group (round-robin
	// position); it goes when the group does.
	rr atomic.Uint64
}

// memberCount is how many members of a group one replica holds.
type memberCount struct{ online, offline int }

// shareMembership is what one session counts in the groups.
type shareMembership struct {
	replica string
	online  bool
	filters []string
}

func newShareRoutes() *shareRoutes {
	return &shareRoutes{index: topics.NewIndex(), groups: map[string]*shareGroup{}, members: map[string]shareMembership{}}
}

// set records that session clientID, owned by replica (online or not),
// is a member of the groups of filters; no filters or no replica removes
// it from every group.
func (sr *shareRoutes) set(clientID, replica string, online bool, filters []string) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	old, had := sr.members[clientID]
	if had && old.replica == replica && old.online == online && slices.Equal(old.filters, filters) {
		return
	}
	if had {
		for _, f := range old.filters {
			sr.count(f, old.replica, old.online, -1)
		}
		delete(sr.members, clientID)
	}
	if replica == "" || len(filters) == 0 {
		return
	}
	sr.members[clientID] = shareMembership{replica: replica, online: online, filters: filters}
	for _, f := range filters {
		sr.count(f, replica, online, 1)
	}
}

// count adds d to replica's members of group f (sr.mu held), adding or
// removing the holder and the group as they appear and go.
func (sr *shareRoutes) count(f, replica string, online bool, d int) {
	g := sr.groups[f]
	if g == nil {
		if d < 0 {
			return
		}
		g = &shareGroup{holders: map[string]*memberCount{}}
		sr.groups[f] = g
	}
	c := g.holders[replica]
	if c == nil {
		if d < 0 {
			return
		}
		c = &memberCount{}
		g.holders[replica] = c
		i, _ := slices.BinarySearch(g.order, replica)
		g.order = slices.Insert(g.order, i, replica)
		sr.index.Add(topics.Sub{ClientID: replica, Filter: f})
	}
	if online {
		c.online += d
	} else {
		c.offline += d
	}
	if c.online+c.offline > 0 {
		return
	}
	delete(g.holders, replica)
	if i, ok := slices.BinarySearch(g.order, replica); ok {
		g.order = slices.Delete(g.order, i, i+1)
	}
	sr.index.Remove(replica, f)
	if len(g.holders) == 0 {
		delete(sr.groups, f)
	}
}

// reset empties the table (a rebuild of the sessions table).
func (sr *shareRoutes) reset() {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	for f, g := range sr.groups {
		for replica := range g.holders {
			sr.index.Remove(replica, f)
		}
	}
	clear(sr.groups)
	clear(sr.members)
}

// match returns the group filters with members anywhere that match topic,
// each once; nil, without allocating beyond buf's growth, when none does.
func (sr *shareRoutes) match(topic string, buf []topics.Sub) ([]string, []topics.Sub) {
	buf = sr.index.Match(topic, buf[:0])
	var out []string
	for i := range buf {
		if f := buf[i].Filter; !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, buf
}

// pick chooses the replica that delivers the next message to group f,
// among its holders but those in skip: weighted round-robin over the
// holders with online members, weighted by their online members, so that
// each connected member gets about an equal share, as on one node; when
// no holder left has one online, the same over the offline members. ok is
// false when no holder is left.
func (sr *shareRoutes) pick(f string, skip []string) (replica string, ok bool) {
	sr.mu.RLock()
	defer sr.mu.RUnlock()
	g := sr.groups[f]
	if g == nil {
		return "", false
	}
	online, total := true, 0
	for _, r := range g.order {
		if !slices.Contains(skip, r) {
			total += g.holders[r].online
		}
	}
	if total == 0 {
		online = false
		for _, r := range g.order {
			if !slices.Contains(skip, r) {
				total += g.holders[r].offline
			}
		}
	}
	if total == 0 {
		return "", false
	}
	j := int((g.rr.Add(1) - 1) % uint64(total))
	for _, r := range g.order {
		if slices.Contains(skip, r) {
			continue
		}
		c := g.holders[r]
		w := c.offline
		if online {
			w = c.online
		}
		if j < w {
			return r, true
		}
		j -= w
	}
	return "", false // not reached: j < total
}

// holders reports the members per replica of group f (for tests and
// views).
func (sr *shareRoutes) holders(f string) map[string]memberCount {
	sr.mu.RLock()
	defer sr.mu.RUnlock()
	g := sr.groups[f]
	if g == nil {
		return nil
	}
	out := make(map[string]memberCount, len(g.holders))
	for r, c := range g.holders {
		out[r] = *c
	}
	return out
}

// len is the number of group filters with members.
func (sr *shareRoutes) len() int {
	sr.mu.RLock()
	defer sr.mu.RUnlock()
	return len(sr.groups)
}
