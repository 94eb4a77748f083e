package mqttfront

import (
	"sync"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// ackRing holds the inbound QoS 1/2 publishes of one connection in arrival
// order until the Sink confirms them. Acks leave only for the confirmed
// prefix, so they go out in arrival order [MQTT-4.6.0-2]; all acks that
// become ready together are queued in one batch (one write).
type ackRing struct {
	c       *conn
	mu      sync.Mutex
	cond    sync.Cond
	head    uint64 // seq of pending[0]
	pending []ackSlot
	// inQoS2: inbound QoS 2 packet ids; false while the PUBLISH is in the
	// ring, true once PUBREC went out (awaiting PUBREL) [MQTT-4.3.3-9].
	inQoS2    map[uint16]bool
	abandoned bool
}

type ackSlot struct {
	id    uint16
	qos   byte
	state byte // 0 waiting for the sink, 1 confirmed
	code  packets.ReasonCode
	msg   string
}

// awaiting returns the number of inbound QoS 1/2 publishes not yet
// completed from the client's view: in the ring, or PUBREC'd awaiting
// PUBREL. Used for the v5 Receive Maximum check [MQTT-3.3.4-7].
func (r *ackRing) awaiting() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.pending)
	for _, sent := range r.inQoS2 {
		if sent {
			n++
		}
	}
	return n
}

// push appends a slot and returns its sequence number. When the ring holds
// limit entries it blocks (v3 flow control: the reader stops reading)
// until there is room or the ring is abandoned (ok=false).
func (r *ackRing) push(id uint16, qos byte, limit int) (seq uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cond.L == nil {
		r.cond.L = &r.mu
	}
	for len(r.pending) >= limit && !r.abandoned {
		r.cond.Wait()
	}
	if r.abandoned {
		return 0, false
	}
	if qos == 2 {
		if r.inQoS2 == nil {
			r.inQoS2 = map[uint16]bool{}
		}
		r.inQoS2[id] = false
	}
	r.pending = append(r.pending, ackSlot{id: id, qos: qos})
	return r.head + uint64(len(r.pending)) - 1, true
}

// qos2State reports whether id is a known inbound QoS 2 id and whether its
// PUBREC has gone out.
func (r *ackRing) qos2State(id uint16) (known, recSent bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	recSent, known = r.inQoS2[id]
	return known, recSent
}

// release forgets a QoS 2 id on PUBREL; false if it was unknown.
func (r *ackRing) release(id uint16) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	sent, ok := r.inQoS2[id]
	if !ok || !sent {
		return false
	}
	delete(r.inQoS2, id)
	return true
}

// complete records the outcome of slot seq and sends the acks of the
// confirmed prefix. It is the Sink's done callback; safe from any goroutine.
func (r *ackRing) complete(seq uint64, code packets.ReasonCode, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.abandoned || seq < r.head || seq-r.head >= uint64(len(r.pending)) {
		return
	}
	sl := &r.pending[seq-r.head]
	if sl.state != 0 {
		return // done called twice: ignore
	}
	sl.state, sl.code, sl.msg = 1, code, msg
	c := r.c
	v5 := c.version == packets.V5
	var raw []byte // the acks of the confirmed prefix, encoded: one write, one allocation
	n := 0
	fatal := false
	for n < len(r.pending) && r.pending[n].state != 0 {
		sl := &r.pending[n]
		if sl.code.IsError() && !v5 {
			// v3 has no way to say no: close without the ack, the device
			// resends on its next connection.
			fatal = true
			break
		}
		typ := packets.PUBACK
		if sl.qos == 2 {
			typ = packets.PUBREC
			if sl.code.IsError() {
				delete(r.inQoS2, sl.id) // a failed PUBREC ends the flow §4.3.3
			} else {
				r.inQoS2[sl.id] = true
			}
		}
		if raw == nil {
			raw = make([]byte, 0, 4*(len(r.pending)-n)+len(sl.msg)+8)
		}
		raw = encodeAck(raw, c, typ, sl.id, sl.code, sl.msg)
		n++
	}
	if n > 0 {
		clear(r.pending[:n])
		r.pending = r.pending[n:]
		r.head += uint64(n)
		if len(r.pending) == 0 {
			r.pending = nil
		}
		if len(raw) > 0 {
			c.sendRaw(raw)
		}
		r.cond.Signal()
	}
	if fatal {
		r.abandoned = true
		r.cond.Broadcast()
		c.setReason(ReasonSinkError)
		c.closeWrite()
	}
}

// abandon stops the ring: late completions are ignored and a blocked push
// returns.
func (r *ackRing) abandon() {
	r.mu.Lock()
	r.abandoned = true
	if r.cond.L != nil {
		r.cond.Broadcast()
	}
	r.mu.Unlock()
}

// snapshotQoS2 returns the ids PUBREC'd and awaiting PUBREL, for the
// session to keep.
func (r *ackRing) snapshotQoS2() []uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []uint16
	for id, sent := range r.inQoS2 {
		if sent {
			ids = append(ids, id)
		}
	}
	return ids
}

// restoreQoS2 loads the ids a resumed session was awaiting PUBREL for.
func (r *ackRing) restoreQoS2(ids []uint16) {
	if len(ids) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inQoS2 == nil {
		r.inQoS2 = map[uint16]bool{}
	}
	for _, id := range ids {
		r.inQoS2[id] = true
	}
}

// encodeAck appends a PUBACK or PUBREC for id. v5 carries the reason code
// and, when the client asked for problem information, the reason string
// (conn.encode leaves it out if it would exceed the client's Maximum Packet
// Size [MQTT-3.4.2-2]). Only the writer-independent part of encode runs for
// acks, so calling it from any goroutine is safe.
func encodeAck(dst []byte, c *conn, typ packets.Type, id uint16, code packets.ReasonCode, msg string) []byte {
	ack := packets.Packet{Type: typ, PacketID: id}
	if c.version == packets.V5 {
		ack.ReasonCode = code
		if msg != "" && c.problemInfo {
			ack.Properties.ReasonString = msg
		}
	}
	return c.encode(dst, &ack)
}
