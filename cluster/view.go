package cluster

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// The operations view of a node (README.md, "Operations"): the replicas
// with their heartbeat age and sessions, this replica's tables and claim
// counters. The admin API (GET /api/v1/cluster) and the metrics read it.

// claimCounts counts this replica's claims by outcome.
type claimCounts struct {
	won, lost, refused, failed atomic.Uint64
	// superseded counts sessions this incarnation owned that a later claim
	// took (a takeover elsewhere, or a claim that lost a race after the
	// log applied it).
	superseded atomic.Uint64
}

// ClaimStats are this replica's claims since start, by outcome.
type ClaimStats struct {
	Won        uint64 // the claim is the session's owner: CONNACK follows
	Lost       uint64 // a later claim was read first: the CONNECT lost the race
	Refused    uint64 // the owner binding refused it: CONNACK 0x85
	Failed     uint64 // not produced or not read back in time: CONNACK 0x88
	Superseded uint64 // sessions owned here that a later claim took
}

// Replica states in a view: a heartbeat's state, or "stale" when its last
// heartbeat is older than cluster.replica_timeout (broker clock), or
// "unknown" for an owner of sessions with no heartbeat in the table.
const (
	ReplicaStarting = "starting"
	ReplicaAlive    = "alive"
	ReplicaStopping = "stopping"
	ReplicaStale    = "stale"
	ReplicaUnknown  = "unknown"
)

// ReplicaStates lists a view's replica states (for metrics).
func ReplicaStates() []string {
	return []string{ReplicaStarting, ReplicaAlive, ReplicaStopping, ReplicaStale, ReplicaUnknown}
}

// ReplicaView is one replica as this replica sees it.
type ReplicaView struct {
	ID          string
	Incarnation uint64
	// State is the last heartbeat's state, ReplicaStale when that
	// heartbeat is older than the replica timeout (a stopping heartbeat
	// stays "stopping"), ReplicaUnknown with no heartbeat.
	State string
	// Live: a recent heartbeat that does not say stopping (Registry.Live).
	Live bool
	// HeartbeatAge is how far its last heartbeat is behind the newest one
	// in the replicas topic, both in the broker's clock (LogAppendTime),
	// so no two machines' clocks are compared. It grows only while some
	// replica (this one included) still heartbeats.
	HeartbeatAge  time.Duration
	LastHeartbeat time.Time // broker timestamp; zero with no heartbeat
	StartedAt     time.Time // its own clock, as it said
	Seq           uint64
	// Admin and MQTT are the addresses it advertises (cluster.advertise_*
	// or its listeners); "" when it gave none.
	Admin, MQTT string
	Self        bool
	// Sessions it owns as the sessions table says: online (connected at
	// their last state record) and offline.
	SessionsOnline, SessionsOffline int
}

// View is a snapshot of the cluster as this replica sees it.
type View struct {
	ID             string
	Incarnation    uint64
	State          State
	NotReadyReason string
	// Replicas, sorted by id: every replica of the replicas table, and
	// any other replica named as a session owner.
	Replicas []ReplicaView
	Tables   []TableStats
	Claims   ClaimStats
	Repairs  uint64
	// ReplicaTimeout is cluster.replica_timeout, the age beyond which a
	// replica is stale.
	ReplicaTimeout time.Duration
}

// View returns the cluster as this replica sees it now. The sessions per
// owner are kept as the table is applied, so a view costs O(replicas)
// whatever the number of sessions.
func (n *Node) View() View {
	st := n.Stats()
	v := View{ID: n.id, Incarnation: n.incarnation, State: st.State, NotReadyReason: n.NotReadyReason(),
		Tables: st.Tables, Claims: n.claims.Stats(), Repairs: n.claims.Repairs(), ReplicaTimeout: n.cfg.ReplicaTimeout}
	online, offline := n.claims.owned()
	r := n.registry
	r.mu.Lock()
	byID := make(map[string]*ReplicaView, len(r.replicas))
	for id, rep := range r.replicas {
		rv := r.viewLocked(rep)
		byID[id] = &rv
	}
	r.mu.Unlock()
	for id := range online {
		if byID[id] == nil {
			byID[id] = &ReplicaView{ID: id, State: ReplicaUnknown}
		}
	}
	for id := range offline {
		if byID[id] == nil {
			byID[id] = &ReplicaView{ID: id, State: ReplicaUnknown}
		}
	}
	for id, rv := range byID {
		rv.Self = id == n.id
		rv.SessionsOnline, rv.SessionsOffline = online[id], offline[id]
		v.Replicas = append(v.Replicas, *rv)
	}
	slices.SortFunc(v.Replicas, func(a, b ReplicaView) int { return strings.Compare(a.ID, b.ID) })
	return v
}

func heartbeatStateName(s byte) string {
	switch s {
	case replicaStarting:
		return ReplicaStarting
	case replicaAlive:
		return ReplicaAlive
	case replicaStopping:
		return ReplicaStopping
	}
	return ReplicaUnknown
}

// viewLocked is rep as a view (no sessions, Self unset); r.mu held.
func (r *Registry) viewLocked(rep Replica) ReplicaView {
	rv := ReplicaView{ID: rep.ID, Incarnation: rep.Incarnation, HeartbeatAge: max(r.newest.Sub(rep.LastSeen), 0),
		LastHeartbeat: rep.LastSeen, StartedAt: rep.StartedAt, Seq: rep.Seq, Admin: rep.Admin, MQTT: rep.MQTT,
		State: heartbeatStateName(rep.State)}
	stale := rv.HeartbeatAge > r.timeout
	rv.Live = rep.State != replicaStopping && !stale
	if stale && rep.State != replicaStopping {
		rv.State = ReplicaStale
	}
	return rv
}

// SessionOwner returns the replica that owns clientID's session as the
// sessions table says, with what the registry knows of it; false when the
// table knows no live session (none, or ended) for clientID.
func (n *Node) SessionOwner(clientID string) (ReplicaView, bool) {
	n.claims.mu.Lock()
	e := n.claims.sessions[clientID]
	var owner string
	if e != nil && e.state != nil {
		owner = e.owner.Replica
	}
	n.claims.mu.Unlock()
	if owner == "" {
		return ReplicaView{}, false
	}
	r := n.registry
	r.mu.Lock()
	rep, known := r.replicas[owner]
	var rv ReplicaView
	if known {
		rv = r.viewLocked(rep)
	}
	r.mu.Unlock()
	if !known {
		rv = ReplicaView{ID: owner, State: ReplicaUnknown}
	}
	rv.Self = owner == n.id
	return rv, true
}

// Advertise sets what this replica's heartbeats advertise: its admin HTTP
// address and its MQTT listeners. fn is called at every heartbeat, so
// addresses known only once the listeners bound (port 0) are sent as soon
// as they are. Call it before Run.
func (n *Node) Advertise(fn func() (admin, mqtt string)) { n.registry.addrs = fn }

// Stats returns this replica's claim counters.
func (c *Claims) Stats() ClaimStats {
	return ClaimStats{Won: c.counts.won.Load(), Lost: c.counts.lost.Load(), Refused: c.counts.refused.Load(),
		Failed: c.counts.failed.Load(), Superseded: c.counts.superseded.Load()}
}

// ownedCount is one owner's live sessions.
type ownedCount struct{ online, offline int }

// putLocked sets clientID's entry (nil deletes it) and keeps the counts
// of live sessions per owner, so that a view costs O(replicas), not a
// pass over the table under c.mu. c.mu held.
func (c *Claims) putLocked(clientID string, e *entry) {
	c.countLocked(c.sessions[clientID], -1)
	if e == nil {
		delete(c.sessions, clientID)
		return
	}
	c.sessions[clientID] = e
	c.countLocked(e, 1)
}

func (c *Claims) countLocked(e *entry, d int) {
	if e == nil || e.state == nil || e.owner.Replica == "" {
		return
	}
	oc := c.ownedBy[e.owner.Replica]
	if oc == nil {
		oc = &ownedCount{}
		c.ownedBy[e.owner.Replica] = oc
	}
	if e.state.DisconnectedAt.IsZero() {
		oc.online += d
	} else {
		oc.offline += d
	}
	if oc.online == 0 && oc.offline == 0 {
		delete(c.ownedBy, e.owner.Replica)
	}
}

// owned returns the live sessions of the table per owner replica, online
// and offline.
func (c *Claims) owned() (online, offline map[string]int) {
	online, offline = map[string]int{}, map[string]int{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, oc := range c.ownedBy {
		if oc.online != 0 {
			online[id] = oc.online
		}
		if oc.offline != 0 {
			offline[id] = oc.offline
		}
	}
	return online, offline
}
