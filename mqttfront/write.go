package mqttfront

import (
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// outItem is one entry of the write queue: a packet to encode, or bytes
// already encoded (a batch of acks from the ack ring).
type outItem struct {
	p   *packets.Packet
	raw []byte
}

// send queues control packets (acks, CONNACK, SUBACK, DISCONNECT ...) and
// reliable deliveries. They are never dropped for queue bounds. It reports
// false when the connection is closing.
//
// The CONNACK is the first packet a server sends [MQTT-3.2.0-1]: whatever
// is queued before it (a delivery to a session the CONNECT attached, while
// the cluster writes its state) waits, and goes out after it. A refusal
// (non-zero CONNACK) is followed by nothing: what waited is dropped.
func (c *conn) send(ps ...*packets.Packet) bool {
	c.wmu.Lock()
	if c.wclosing {
		c.wmu.Unlock()
		return false
	}
	for _, p := range ps {
		if p.Type == packets.CONNACK && !c.wopen {
			c.openLocked(p)
			continue
		}
		c.wq = append(c.wq, outItem{p: p})
	}
	c.startWriterLocked()
	c.wmu.Unlock()
	return true
}

// openLocked queues the CONNACK ahead of the packets that waited for it
// and lets the writer run (c.wmu held). After a refusal the connection
// closes: the deliveries that waited are dropped (QoS 0 only: QoS 1/2
// wait in the session until its CONNACK, see sendingLocked), counted as
// QoS 0 for a session without a connection.
func (c *conn) openLocked(ack *packets.Packet) {
	c.wopen = true
	held := c.wq
	c.wq = append(make([]outItem, 0, 1+len(held)), outItem{p: ack})
	if ack.ReasonCode == 0 {
		c.wq = append(c.wq, held...)
		return
	}
	for _, it := range held {
		if it.p != nil && it.p.Type == packets.PUBLISH {
			c.s.stats.drop(DropOfflineQoS0)
		}
	}
	c.wqBytes = 0
}

// sendRaw queues packets the caller has encoded already (acks: one
// allocation per batch instead of a Packet per ack). Like send, it never
// drops for queue bounds and reports false when the connection is closing.
func (c *conn) sendRaw(b []byte) bool {
	c.wmu.Lock()
	if c.wclosing {
		c.wmu.Unlock()
		return false
	}
	c.wq = append(c.wq, outItem{raw: b})
	c.startWriterLocked()
	c.wmu.Unlock()
	return true
}

// sendQoS0 queues a QoS 0 delivery unless the write queue is over its
// bounds (then the message is dropped: slow_consumer).
//
// A full queue whose writer is making progress is waited for (at most
// stallWait): a live but slower reader pushes back on the publisher
// instead of losing messages. A writer that did not drain within stallWait
// is marked stalled, and QoS 0 for it is dropped at once until a write
// completes; write_timeout then disconnects it.
func (c *conn) sendQoS0(p *packets.Packet) bool {
	cfg := &c.s.cfg
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		c.wmu.Lock()
		if c.wclosing {
			c.wmu.Unlock()
			return false
		}
		if len(c.wq) < cfg.MaxQueuedMessages && (cfg.MaxQueuedBytes == 0 || c.wqBytes+len(p.Payload) <= cfg.MaxQueuedBytes || len(c.wq) == 0) {
			c.wqBytes += len(p.Payload)
			c.wq = append(c.wq, outItem{p: p})
			c.startWriterLocked()
			c.wmu.Unlock()
			return true
		}
		if c.wstalled || !c.wopen {
			// Stalled, or full before the CONNACK: no writer drains it.
			c.wmu.Unlock()
			c.s.stats.drop(DropSlowConsumer)
			return false
		}
		if c.wdrain == nil {
			c.wdrain = make(chan struct{})
		}
		ch := c.wdrain
		c.wmu.Unlock()
		if t == nil {
			t = time.NewTimer(c.stallWait())
		}
		select {
		case <-ch:
			continue
		case <-t.C:
			c.wmu.Lock()
			c.wstalled = true
			c.wmu.Unlock()
			c.s.stats.drop(DropSlowConsumer)
			return false
		case <-c.s.quit:
			return false
		}
	}
}

// stallWait is how long a QoS 0 delivery waits for a full write queue.
func (c *conn) stallWait() time.Duration {
	return min(c.s.cfg.WriteTimeout/10, 100*time.Millisecond)
}

// startWriterLocked starts the writer goroutine if none runs and the
// CONNACK is queued (before it, packets wait in wq). The reader goroutine
// of this connection is alive (it closes wclosing before it ends), so s.wg
// is above zero and Add is safe.
func (c *conn) startWriterLocked() {
	if c.writing || !c.wopen {
		return
	}
	c.writing = true
	c.s.wg.Add(1)
	go c.writeLoop()
}

// closeWrite stops accepting packets; the socket closes once the queue is
// flushed (at once if no writer runs). With wlinger set, the socket is only
// half-closed (FIN after the last packet) and the reader closes it after
// draining (finish, linger).
func (c *conn) closeWrite() {
	c.wmu.Lock()
	c.wclosing = true
	idle := !c.writing
	if idle && !c.wclosed {
		c.wclosed = true
	}
	c.wmu.Unlock()
	if idle {
		c.closeSocket()
	}
}

// closeSocket ends the socket after the last flush: a half-close when the
// reader lingers (it closes the socket itself), else a close.
func (c *conn) closeSocket() {
	if c.wlinger.Load() {
		if hc, ok := c.nc.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
			return
		}
	}
	_ = c.nc.Close()
}

// writeLoop drains the queue: encode a batch into one pooled buffer, one
// Write, repeat; exits when the queue is empty.
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	bp := writeBufPool.Get().(*[]byte)
	var batch []outItem
	for {
		c.wmu.Lock()
		if len(c.wq) == 0 {
			c.writing = false
			closeNow := c.wclosing && !c.wclosed
			if closeNow {
				c.wclosed = true
			}
			c.wq = nil
			c.wqBytes = 0
			c.wmu.Unlock()
			if cap(*bp) <= 64<<10 {
				*bp = (*bp)[:0]
				writeBufPool.Put(bp)
			}
			if closeNow {
				c.closeSocket()
			}
			return
		}
		batch, c.wq = c.wq, batch[:0]
		c.wqBytes = 0
		if c.wdrain != nil {
			close(c.wdrain) // wake QoS 0 senders waiting for room
			c.wdrain = nil
		}
		c.wmu.Unlock()

		buf := (*bp)[:0]
		for i, it := range batch {
			if it.p != nil {
				buf = c.encode(buf, it.p)
			} else {
				buf = append(buf, it.raw...)
			}
			batch[i] = outItem{}
		}
		*bp = buf
		if len(buf) == 0 {
			continue
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
		n, err := c.nc.Write(buf)
		c.s.stats.bytesOut.Add(uint64(n))
		if err == nil {
			c.wmu.Lock()
			c.wstalled = false
			c.wmu.Unlock()
		}
		if err != nil {
			if isTimeout(err) {
				c.setReason(ReasonSlowConsumer)
			} else {
				c.setReason(ReasonNetworkError)
			}
			c.wmu.Lock()
			c.wclosing = true
			c.wq = nil
			c.wclosed = true
			c.writing = false
			c.wmu.Unlock()
			_ = c.nc.Close()
			*bp = (*bp)[:0]
			writeBufPool.Put(bp)
			return
		}
	}
}

// encode appends p's wire form; a PUBLISH larger than the client's Maximum
// Packet Size is dropped as if sent [MQTT-3.1.2-25].
func (c *conn) encode(buf []byte, p *packets.Packet) []byte {
	newAlias := false
	if p.Type == packets.PUBLISH && c.aliasMaxOut > 0 {
		newAlias = c.assignAlias(p)
	}
	start := len(buf)
	out, err := packets.Encode(buf, p, c.version)
	if err != nil {
		c.s.log.Error("mqtt: encode", zap.String("client", c.clientID), zap.Stringer("type", p.Type), zap.Error(err))
		return buf[:start]
	}
	if c.maxOut > 0 && uint32(len(out)-start) > c.maxOut && p.Type != packets.PUBLISH &&
		(p.Properties.ReasonString != "" || len(p.Properties.User) > 0) {
		// [MQTT-3.1.2-25] leave out the reason string and user properties
		// rather than the packet (CONNACK, SUBACK, DISCONNECT, ...).
		q := *p
		q.Properties.ReasonString, q.Properties.User = "", nil
		if o, err := packets.Encode(buf[:start], &q, c.version); err == nil {
			out = o
		}
	}
	if c.maxOut > 0 && uint32(len(out)-start) > c.maxOut {
		if p.Type == packets.PUBLISH {
			if newAlias {
				a := p.Properties.TopicAlias
				delete(c.aliasOut, c.aliasRev[a])
				c.aliasRev[a] = ""
			}
			c.s.stats.drop(DropTooLarge)
			if p.QoS > 0 && c.sess != nil {
				c.s.completeOutbound(c, p.PacketID)
			}
		}
		return out[:start]
	}
	c.s.stats.pktOut[p.Type&15].Add(1)
	if p.Type == packets.PUBLISH {
		c.s.stats.msgOut[p.QoS&3].Add(1)
	}
	return out
}

// assignAlias gives p an outbound topic alias (v5): a known topic is sent
// as alias only; a new one takes the next alias, evicting round-robin.
func (c *conn) assignAlias(p *packets.Packet) (isNew bool) {
	if c.aliasOut == nil {
		c.aliasOut = map[string]uint16{}
		c.aliasRev = make([]string, int(c.aliasMaxOut)+1)
	}
	if a, ok := c.aliasOut[p.Topic]; ok {
		p.Properties.TopicAlias = a
		p.Topic = ""
		return false
	}
	c.aliasNext++
	if c.aliasNext > c.aliasMaxOut {
		c.aliasNext = 1
	}
	a := c.aliasNext
	if old := c.aliasRev[a]; old != "" {
		delete(c.aliasOut, old)
	}
	c.aliasRev[a] = p.Topic
	c.aliasOut[p.Topic] = a
	p.Properties.TopicAlias = a
	return true
}
