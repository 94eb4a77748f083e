package mqttfront

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
)

// neverExpire is the Session Expiry Interval meaning "never".
const neverExpire = 0xFFFFFFFF

var timeNow = time.Now

func secs(n uint32) time.Duration { return time.Duration(n) * time.Second }

// session is the server-side state of one client id. It outlives
// connections when its expiry is non-zero.
type session struct {
	id     string
	online atomic.Bool

	mu             sync.Mutex
	conn           *conn // nil while offline
	version        packets.Version
	username       string
	expiry         uint32 // seconds; neverExpire = never
	disconnectedAt time.Time
	window         int
	inflight       map[uint16]*outMsg // outbound QoS 1/2 sent, awaiting ack
	queue          []*outMsg          // waiting for the window or for a connection
	queueBytes     int64              // msgSize summed over queue
	nextPID        uint16
	seq            uint64
	inQoS2         []uint16 // inbound ids awaiting PUBREL while offline
	will           *Message // the will of the current connection
	willDelay      uint32
	pendingWill    *Message // a delayed will waiting for willAt
	willAt         time.Time
	ended          bool
	recv           recvCache // per-delivery ACL decisions (recvacl.go)
	// Cluster mode (cluster_sessions.go): claimed once this replica's
	// claim at epoch (an offset, 0 included) holds the session; moved once
	// a later claim took it (movedClean: that claim started clean, ending
	// this session).
	claimed    bool
	epoch      int64
	moved      bool
	movedClean bool
	// restored: read from the store at start (an earlier run of this
	// replica owned it); until a claim of this run takes it, the log may
	// name another owner (it moved while this replica was down).
	restored bool
	// Handover (cluster_handover.go). handing: moved without a clean
	// start; what it holds goes to the new owner (TakeHeld), and copies
	// routed here on the old view still join it. awaiting: a session
	// taken from another replica that holds its messages until the old
	// owner's handover arrives (handed is closed then, or at the timeout).
	// importSeq numbers the messages handed over, below holdSeqBase.
	handing   bool
	awaiting  bool
	handed    chan struct{}
	importSeq uint64

	// persistMu orders the writes of this session's record and
	// subscriptions (persist.go): held from the snapshot to the end of the
	// store write, and taken before mu.
	persistMu sync.Mutex
	// stored: the store holds this session's record and its whole
	// subscription set as of the last write, so later writes carry only
	// changes. Guarded by persistMu.
	stored bool
}

// outMsg is one outbound QoS 1/2 delivery.
type outMsg struct {
	seq     uint64
	m       *Message
	qos     byte
	retain  bool
	subIDs  []uint32
	pid     uint16
	state   byte // store.StateQueued, StatePublished, StateReleased
	inStore bool
	// putPending: the store record is being written by writeStored (outside
	// ss.mu). finished: the delivery completed meanwhile, so writeStored
	// deletes the record once written. Both guarded by ss.mu.
	putPending bool
	finished   bool
}

func (om *outMsg) stored() *store.Message {
	sm := toStore(om.m, om.qos, om.retain)
	sm.PacketID = om.pid
	sm.State = om.state
	if len(om.subIDs) > 0 {
		sm.Props.SubscriptionIDs = om.subIDs
	}
	return sm
}

func newSession(id string) *session {
	return &session{id: id}
}

// persistent reports whether the session outlives its connection.
func (ss *session) persistentLocked() bool { return ss.expiry > 0 }

// storeWrite is a message record the caller writes to the store outside
// the session lock.
type storeWrite struct {
	seq uint64
	m   *store.Message
	om  *outMsg
}

// deliver hands m to the session at qos. A message the session's client
// may not receive (the ACL's per-delivery check) is dropped and counted
// (delivery_not_authorized); that is not an error. For a persistent
// session (expiry > 0, store open) a QoS 1/2 message is also returned as a
// storeWrite that the caller must write (outside the lock) before reporting
// the message durable: queued messages and the inflight window survive a
// crash.
//
// inbox is a copy routed here by another replica (Deliver): it also joins
// a session being handed over (cluster_handover.go), which local
// publishes no longer reach (the route view sends them to the new owner).
func (ss *session) deliver(s *Server, m *Message, qos byte, retain bool, subIDs []uint32, inbox bool) (*storeWrite, error) {
	ss.mu.Lock()
	if ss.ended || (ss.moved && !inbox) {
		ss.mu.Unlock()
		return nil, nil
	}
	if !ss.mayReceiveLocked(s, m.Topic) {
		user := ss.username
		ss.mu.Unlock()
		s.deliveryDenied(ss.id, user, m.Topic)
		return nil, nil
	}
	if exp := m.expiresAt(); !exp.IsZero() && !timeNow().Before(exp) {
		ss.mu.Unlock()
		s.stats.drop(DropExpired)
		return nil, nil
	}
	if ss.version != packets.V5 {
		subIDs = nil
	}
	if qos == 0 {
		c := ss.conn
		if c == nil {
			ss.mu.Unlock()
			s.stats.drop(DropOfflineQoS0)
			return nil, nil
		}
		om0 := outMsg{m: m, retain: retain, subIDs: subIDs}
		p := ss.packetFor(&om0, false)
		ss.mu.Unlock()
		// Outside ss.mu: sendQoS0 may wait briefly for a live writer.
		// Before the CONNACK (attached, the cluster's state write or a
		// handover's hold under way) it waits in the write queue, which
		// opens with the CONNACK [MQTT-3.2.0-1] (write.go).
		c.sendQoS0(p)
		return nil, nil
	}
	defer ss.mu.Unlock()
	om := &outMsg{m: m, qos: qos, retain: retain, subIDs: subIDs}
	ss.seq++
	om.seq = ss.seq
	persist := ss.expiry > 0 && s.store != nil
	if ss.sendingLocked() && len(ss.queue) == 0 && len(ss.inflight) < ss.window {
		ss.sendInflight(om)
	} else {
		size := msgSize(m)
		if err := ss.queueRoomLocked(s, size); err != nil {
			return nil, err
		}
		ss.queue = append(ss.queue, om)
		ss.queueBytes += size
	}
	if !persist {
		return nil, nil
	}
	om.inStore = true
	om.putPending = true
	return &storeWrite{seq: om.seq, m: om.stored(), om: om}, nil
}

// queueRoomLocked checks max_queued_messages and max_session_queue_bytes
// for one more message of size bytes. An empty queue takes any one message,
// so a message larger than the byte limit is not refused forever. Called
// with ss.mu held.
func (ss *session) queueRoomLocked(s *Server, size int64) error {
	l := LimitQueuedMessages
	switch {
	case len(ss.queue) >= s.cfg.MaxQueuedMessages:
	case s.cfg.MaxSessionQueueBytes > 0 && len(ss.queue) > 0 && ss.queueBytes+size > int64(s.cfg.MaxSessionQueueBytes):
		l = LimitSessionQueueBytes
	default:
		return nil
	}
	s.stats.drop(DropQueueFull)
	s.limitHit(l, zap.String("client", ss.id), zap.Int("queued", len(ss.queue)), zap.Int64("queued_bytes", ss.queueBytes))
	return ErrQueueFull
}

// sendingLocked: the session sends to its connection: one is attached
// and its CONNACK went out (the first packet a server sends
// [MQTT-3.2.0-1]: in cluster mode the state write before it leaves time
// for copies to arrive), the session did not move away and holds nothing
// back for a handover (ss.mu held).
func (ss *session) sendingLocked() bool {
	return ss.conn != nil && ss.conn.connected.Load() && !ss.moved && !ss.awaiting
}

// sendInflight assigns a packet id and sends om. Called with ss.mu held
// and ss.conn != nil.
func (ss *session) sendInflight(om *outMsg) {
	om.pid = ss.allocPID()
	om.state = store.StatePublished
	if ss.inflight == nil {
		ss.inflight = map[uint16]*outMsg{}
	}
	ss.inflight[om.pid] = om
	ss.conn.send(ss.packetFor(om, false))
}

// allocPID returns the next packet id not in use. [MQTT-2.2.1-3]
func (ss *session) allocPID() uint16 {
	for {
		ss.nextPID++
		if ss.nextPID == 0 {
			ss.nextPID = 1
		}
		if _, used := ss.inflight[ss.nextPID]; !used {
			return ss.nextPID
		}
	}
}

// packetFor builds the PUBLISH for one delivery. Called with ss.mu held.
func (ss *session) packetFor(om *outMsg, dup bool) *packets.Packet {
	m := om.m
	p := &packets.Packet{
		Type:     packets.PUBLISH,
		Dup:      dup, // [MQTT-3.3.1-1]
		QoS:      om.qos,
		Retain:   om.retain,
		PacketID: om.pid,
		Topic:    m.Topic,
		Payload:  m.Payload,
	}
	if ss.version == packets.V5 {
		p.Properties = m.Properties.wire()
		if exp := m.expiresAt(); !exp.IsZero() {
			// [MQTT-3.3.2-6] the remaining lifetime.
			left := time.Until(exp)
			if left < time.Second {
				left = time.Second
			}
			p.Properties.MessageExpiry = uint32(left / time.Second)
		}
		p.Properties.SubscriptionIDs = om.subIDs
	}
	return p
}

// fillLocked moves queued messages into the window, dropping those that
// expired or that the ACL no longer lets the client receive (rules
// reloaded since they were queued). Called with ss.mu held.
func (ss *session) fillLocked(s *Server) (expired []*outMsg) {
	for ss.sendingLocked() && len(ss.queue) > 0 && len(ss.inflight) < ss.window {
		om := ss.queue[0]
		ss.queue[0] = nil
		ss.queue = ss.queue[1:]
		ss.queueBytes -= msgSize(om.m)
		if exp := om.m.expiresAt(); !exp.IsZero() && !timeNow().Before(exp) {
			s.stats.drop(DropExpired)
			expired = append(expired, om)
			continue
		}
		if !ss.mayReceiveLocked(s, om.m.Topic) {
			s.deliveryDenied(ss.id, ss.username, om.m.Topic)
			expired = append(expired, om)
			continue
		}
		ss.sendInflight(om)
	}
	if len(ss.queue) == 0 {
		ss.queue = nil
		ss.queueBytes = 0
	}
	return expired
}

// ack handles PUBACK, PUBREC and PUBCOMP for an outbound flow. It returns
// the messages finished with that were in the store.
func (ss *session) ack(s *Server, p *packets.Packet) (done []*outMsg) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	om := ss.inflight[p.PacketID]
	switch p.Type {
	case packets.PUBACK:
		if om == nil || om.qos != 1 {
			return nil
		}
	case packets.PUBREC:
		if om == nil || om.qos != 2 {
			if ss.conn != nil && ss.version == packets.V5 {
				ss.conn.send(&packets.Packet{Type: packets.PUBREL, PacketID: p.PacketID, ReasonCode: packets.PacketIdentifierNotFound})
			}
			return nil
		}
		if !(ss.version == packets.V5 && p.ReasonCode.IsError()) {
			// [MQTT-4.3.3-4] answer with PUBREL, keep the id until PUBCOMP.
			om.state = store.StateReleased
			if ss.conn != nil {
				ss.conn.send(&packets.Packet{Type: packets.PUBREL, PacketID: p.PacketID})
			}
			return nil
		}
	case packets.PUBCOMP:
		if om == nil || om.qos != 2 {
			return nil
		}
	}
	delete(ss.inflight, p.PacketID)
	if om.inStore {
		done = append(done, om)
	}
	for _, e := range ss.fillLocked(s) {
		if e.inStore {
			done = append(done, e)
		}
	}
	return done
}

// resumeLocked resends the unacknowledged window on a new connection
// (PUBLISH with DUP, or PUBREL) in the original order [MQTT-4.4.0-1], then
// fills it from the queue. Called with ss.mu held.
func (ss *session) resumeLocked(s *Server) (expired []*outMsg) {
	if len(ss.inflight) > 0 {
		ws := make([]*outMsg, 0, len(ss.inflight))
		now := timeNow()
		for pid, om := range ss.inflight {
			if exp := om.m.expiresAt(); om.state == store.StatePublished && !exp.IsZero() && !now.Before(exp) {
				// Expired while the client was away [MQTT-3.3.2-5].
				delete(ss.inflight, pid)
				s.stats.drop(DropExpired)
				expired = append(expired, om)
				continue
			}
			if om.state == store.StatePublished && !ss.mayReceiveLocked(s, om.m.Topic) {
				// Not resent: a reload denied it since it was sent.
				delete(ss.inflight, pid)
				s.deliveryDenied(ss.id, ss.username, om.m.Topic)
				expired = append(expired, om)
				continue
			}
			ws = append(ws, om)
		}
		slices.SortFunc(ws, func(a, b *outMsg) int {
			if a.seq < b.seq {
				return -1
			}
			return 1
		})
		ps := make([]*packets.Packet, 0, len(ws))
		for _, om := range ws {
			if om.state == store.StateReleased {
				ps = append(ps, &packets.Packet{Type: packets.PUBREL, PacketID: om.pid})
			} else {
				ps = append(ps, ss.packetFor(om, true))
			}
		}
		if len(ps) > 0 {
			ss.conn.send(ps...)
		}
	}
	return append(expired, ss.fillLocked(s)...)
}

// handleOutboundAck handles PUBACK, PUBREC, PUBCOMP from the client.
func (c *conn) handleOutboundAck(p *packets.Packet) error {
	done := c.sess.ack(c.s, p)
	c.s.forget(c.sess, done)
	return nil
}

// completeOutbound finishes a flow whose PUBLISH was dropped as too large
// for the client [MQTT-3.1.2-25].
func (s *Server) completeOutbound(c *conn, pid uint16) {
	done := c.sess.ack(s, &packets.Packet{Type: packets.PUBACK, PacketID: pid})
	if len(done) == 0 {
		done = c.sess.ack(s, &packets.Packet{Type: packets.PUBCOMP, PacketID: pid})
	}
	s.forget(c.sess, done)
}
