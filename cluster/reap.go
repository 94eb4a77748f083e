package cluster

// The reap record (sessions, kind 9): a janitor's decision, in the
// session's partition, that the connection of a dead owner ended and its
// will fires, here and exactly here (README.md, "Wills of dead replicas").

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// reapRecord ends the connection of the session owned under Epoch, whose
// replica the janitor found dead. Valid when, at its place in the log,
// Epoch is still the session's epoch and the session is online: the first
// reap after the owner's last claim, with no later claim. A valid reap is
// itself an epoch: the session's epoch becomes its offset, so a second
// reap, and every later write of the dead owner under Epoch, is fenced.
type reapRecord struct {
	Epoch       int64
	Janitor     string
	Incarnation uint64    // the janitor's
	At          time.Time // the janitor's clock: the session's disconnect time
}

func (r reapRecord) encode() []byte {
	b := binary.AppendUvarint([]byte{recordFormat, kindReap}, uint64(r.Epoch))
	b = appendStr(b, r.Janitor)
	b = binary.AppendUvarint(b, r.Incarnation)
	return appendTime(b, r.At)
}

func decodeReap(v []byte) (reapRecord, error) {
	if k, err := recordKind(v); err != nil || k != kindReap {
		if err == nil {
			err = fmt.Errorf("%w: kind %d is not a reap", ErrCorrupt, k)
		}
		return reapRecord{}, err
	}
	d := decoder{b: v[2:]}
	var r reapRecord
	r.Epoch = int64(d.uvMax("epoch", 1<<63-1))
	r.Janitor = d.str("janitor")
	r.Incarnation = d.uv("janitor incarnation")
	r.At = d.time("time")
	d.check(!r.At.IsZero(), "reap without a time")
	return r, d.end()
}

// applyReap applies a reap at r.Offset (README.md, "Wills of dead
// replicas", the reader's rule). A valid one takes the session offline
// under a new epoch (its offset), owned by the same replica with no live
// incarnation (0), keeps the will it fires as unconfirmed for its uplink,
// delivers that will to this replica's subscribers (unless the record is
// replayed), and tells this incarnation if it was the owner (paused past
// the timeout). Others change nothing.
func (c *Claims) applyReap(id string, e *entry, r *Record) ([]byte, error) {
	rr, err := decodeReap(r.Value)
	if err != nil {
		return nil, err
	}
	if e == nil || e.state == nil || e.owner.Epoch != rr.Epoch || !e.state.DisconnectedAt.IsZero() || e.unconfirmed {
		if e != nil && rr.Epoch < e.owner.Epoch {
			c.fenced(id, e, "reap", rr.Epoch)
		}
		c.log.Debug("cluster: reap ignored", zap.String("client", id), zap.Int64("epoch", rr.Epoch), zap.Int64("offset", r.Offset))
		if e == nil {
			return nil, nil
		}
		return encodeEntry(e), nil
	}
	st := *e.state
	st.Epoch = r.Offset
	st.DisconnectedAt = rr.At
	st.WillDelay, st.WillAt = 0, time.Time{}
	if st.Will != nil {
		st.WillAt = rr.At
	}
	next := *e
	next.owner = Owner{Replica: e.owner.Replica, Epoch: r.Offset}
	next.state, next.unconfirmed = &st, true
	next.before, next.beforeOwner, next.clean = nil, Owner{}, false
	c.mu.Lock()
	c.putLocked(id, &next) // the view's counts follow (view.go)
	c.mu.Unlock()
	c.reaps.Add(1)
	if c.ours(e.owner) && c.onReaped != nil {
		c.onReaped(id, e.owner)
	}
	if st.Will != nil && !r.Replayed && c.onWill != nil {
		c.onWill(st.Will)
	}
	return encodeEntry(&next), nil
}

// sessionView is what the janitor reads of one session.
type sessionView struct {
	id          string
	owner       Owner
	state       mqttfront.SessionState // a copy; slices shared, not to be changed
	unconfirmed bool
}

// sessionsWhere returns the sessions (with a state) for which keep says
// yes, at most limit. keep runs with c.mu held and must not block.
func (c *Claims) sessionsWhere(limit int, keep func(o Owner, st *mqttfront.SessionState, unconfirmed bool) bool) []sessionView {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []sessionView
	for id, e := range c.sessions {
		if e.state == nil || !keep(e.owner, e.state, e.unconfirmed) {
			continue
		}
		out = append(out, sessionView{id: id, owner: e.owner, state: *e.state, unconfirmed: e.unconfirmed})
		if len(out) >= limit {
			break
		}
	}
	return out
}

// owners returns the distinct live-incarnation owners of sessions with a
// state, with the number of sessions each.
func (c *Claims) owners() map[Owner]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[Owner]int{}
	for _, e := range c.sessions {
		if e.state != nil && e.owner.Incarnation != 0 {
			out[Owner{Replica: e.owner.Replica, Incarnation: e.owner.Incarnation}]++
		}
	}
	return out
}

// view returns one session as sessionsWhere would.
func (c *Claims) view(id string) (sessionView, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.sessions[id]
	if e == nil || e.state == nil {
		return sessionView{}, false
	}
	return sessionView{id: id, owner: e.owner, state: *e.state, unconfirmed: e.unconfirmed}, true
}
