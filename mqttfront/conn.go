package mqttfront

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// conn is one client connection. Its reader goroutine (the one running
// serve) decodes and handles packets; a writer goroutine exists only while
// packets are queued for it.
type conn struct {
	s        *Server
	nc       net.Conn
	listener string
	done     chan struct{} // closed when serve has finished its cleanup
	since    time.Time     // accepted at; immutable (admin snapshots read it)

	// reader-owned state
	one       [1]byte
	pr        prefixReader
	br        *bufio.Reader // borrowed from readerPool while data flows
	version   packets.Version
	clientID  string
	username  string
	keepAlive time.Duration
	sess      *session
	aliasIn   map[uint16]string // inbound topic aliases (v5)
	limiter   *rateLimiter
	graceful  bool        // DISCONNECT 0x00 seen: no will
	connected atomic.Bool // CONNACK success sent; version is fixed before it is set

	// client's v5 limits
	maxOut      uint32 // client's Maximum Packet Size, 0 = none
	aliasMaxOut uint16 // client's Topic Alias Maximum
	problemInfo bool   // Request Problem Information [MQTT-3.1.2-29]

	// inbound pending-ack ring
	ring ackRing

	// writer state, guarded by wmu
	wmu       sync.Mutex
	wq        []outItem
	wqBytes   int
	writing   bool
	wclosing  bool // no more packets accepted; close the socket after the flush
	wclosed   bool
	wlinger   atomic.Bool       // half-close after the flush; finish drains and closes (linger)
	wstalled  bool              // the writer did not drain within stallWait
	wopen     bool              // the CONNACK is queued: the writer may run (write.go, [MQTT-3.2.0-1])
	wdrain    chan struct{}     // closed when the writer takes a batch
	aliasOut  map[string]uint16 // writer-owned
	aliasRev  []string
	aliasNext uint16

	reason atomic.Int32 // DisconnectReason, first one wins
}

// prefixReader replays the byte read while idle, then reads the socket.
type prefixReader struct {
	c       *conn
	pending bool
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if p.pending {
		p.pending = false
		b[0] = p.c.one[0]
		return 1, nil
	}
	n, err := p.c.nc.Read(b)
	p.c.s.stats.bytesIn.Add(uint64(n))
	return n, err
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
var writeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// errClose ends a connection with a typed reason and, for v5 after CONNACK,
// a DISCONNECT reason code (0 = send none).
type errClose struct {
	reason DisconnectReason
	code   packets.ReasonCode
	msg    string
}

func (e *errClose) Error() string { return e.reason.String() + ": " + e.msg }

func closeErr(r DisconnectReason, code packets.ReasonCode, msg string) error {
	return &errClose{reason: r, code: code, msg: msg}
}

func (c *conn) setReason(r DisconnectReason) {
	c.reason.CompareAndSwap(0, int32(r))
}

// serve runs the connection on the calling goroutine until it ends.
func (s *Server) serve(nc net.Conn, listener string) {
	c := &conn{s: s, nc: nc, listener: listener, done: make(chan struct{}), since: timeNow(), version: packets.V311}
	c.pr.c = c
	c.ring.c = c
	s.mu.Lock()
	over := s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections
	if !over && !s.closing.Load() {
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
	if over || s.closing.Load() {
		// Refused before CONNECT: simply close (documented in README.md).
		s.stats.disconnects[ReasonMaxConnections].Add(1)
		_ = nc.Close()
		close(c.done)
		return
	}
	s.stats.connsCurrent.Add(1)
	s.stats.connsTotal.Add(1)
	err := c.run()
	c.finish(err)
}

// run reads CONNECT, then packets until an error ends the connection.
func (c *conn) run() error {
	s := c.s
	_ = c.nc.SetReadDeadline(time.Now().Add(s.cfg.ConnectTimeout))
	// Before authentication only a small CONNECT is read (max_connect_size).
	p, err := c.readPacket(min(s.cfg.MaxConnectSize, s.cfg.MaxPacketSize), 0)
	if err != nil {
		if isTimeout(err) {
			return closeErr(ReasonConnectTimeout, 0, "no CONNECT in time")
		}
		if packets.Code(err) == packets.PacketTooLarge {
			// The version is not known yet: no CONNACK, just close.
			return closeErr(ReasonPacketTooLarge, 0, "mqtt.max_connect_size: "+err.Error())
		}
		if p != nil && p.Type == packets.CONNECT && packets.Code(err) == packets.UnsupportedProtocolVersion {
			// [MQTT-3.1.2-2] answer in the client's version, then close.
			code := packets.V3UnacceptableProtocolVersion
			v := packets.V311
			if p.Connect.ProtocolVersion == packets.V5 {
				code, v = packets.UnsupportedProtocolVersion, packets.V5
			}
			c.version = v
			c.send(&packets.Packet{Type: packets.CONNACK, ReasonCode: code})
			s.stats.connects[connectResult(code, v == packets.V5)].Add(1)
			return closeErr(ReasonUnsupportedVersion, 0, "unsupported protocol version")
		}
		return c.readErr(err)
	}
	if p.Type != packets.CONNECT {
		return closeErr(ReasonProtocolError, 0, "first packet is not CONNECT") // [MQTT-3.1.0-1]
	}
	if err := c.handleConnect(p); err != nil {
		return err
	}
	for {
		if c.br == nil {
			// Idle (no bytes buffered): the keepalive deadline. With bytes
			// buffered the next packet has started and readPacket sets
			// read_timeout at once.
			if c.keepAlive > 0 {
				// [MQTT-3.1.2-22] 1.5 times the keepalive without a packet.
				_ = c.nc.SetReadDeadline(time.Now().Add(c.keepAlive * 3 / 2))
			} else {
				_ = c.nc.SetReadDeadline(time.Time{})
			}
		}
		p, err := c.readPacket(s.cfg.MaxPacketSize, s.cfg.ReadTimeout)
		if err != nil {
			if errors.Is(err, errReadTimeout) {
				return closeErr(ReasonReadTimeout, 0, err.Error())
			}
			if isTimeout(err) && c.keepAlive > 0 {
				return closeErr(ReasonKeepAliveTimeout, packets.KeepAliveTimeout, "keepalive expired")
			}
			return c.readErr(err)
		}
		if err := c.handle(p); err != nil {
			return err
		}
		if p.Type == packets.PUBLISH {
			// handlePublish keeps no reference to p (the Message copies
			// its fields; the body buffer is the payload's own), so a
			// later read reuses it: no Packet allocation per message. A
			// pool, not a per-connection spare, so idle connections hold
			// none.
			*p = packets.Packet{}
			packetPool.Put(p)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// readErr classifies a read or decode error.
func (c *conn) readErr(err error) error {
	if r := DisconnectReason(c.reason.Load()); r != ReasonNone {
		return closeErr(r, 0, err.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
		return closeErr(ReasonNetworkError, 0, err.Error())
	}
	var rc packets.ReasonCode
	if errors.As(err, &rc) {
		switch rc {
		case packets.PacketTooLarge:
			return closeErr(ReasonPacketTooLarge, rc, err.Error())
		case packets.ProtocolError:
			return closeErr(ReasonProtocolError, rc, err.Error())
		case packets.TopicAliasInvalid:
			return closeErr(ReasonTopicAliasInvalid, rc, err.Error()) // alias 0 [MQTT-3.3.2-8]
		default:
			return closeErr(ReasonMalformedPacket, rc, err.Error())
		}
	}
	var re tls.RecordHeaderError
	if errors.As(err, &re) {
		return closeErr(ReasonProtocolError, 0, err.Error())
	}
	return closeErr(ReasonNetworkError, 0, err.Error())
}

// packetPool holds zeroed Packets for inbound reads (see run).
var packetPool = sync.Pool{New: func() any { return new(packets.Packet) }}

// errReadTimeout ends a connection whose started packet did not complete
// within read_timeout.
var errReadTimeout = errors.New("packet not complete within mqtt.read_timeout")

// readPacket reads one packet of at most maxSize bytes. While idle it
// holds no buffer: it blocks on a one-byte read and borrows a bufio.Reader
// only while data flows. When timeout > 0 the packet, once its first byte
// is here, must be complete within timeout (whatever the deadline set for
// the wait before it): a timeout then is errReadTimeout.
func (c *conn) readPacket(maxSize int, timeout time.Duration) (*packets.Packet, error) {
	if c.br == nil {
		for {
			n, err := c.nc.Read(c.one[:])
			if n == 1 {
				c.s.stats.bytesIn.Add(1)
				break
			}
			if err != nil {
				return nil, err
			}
		}
		c.pr.pending = true
		c.br = readerPool.Get().(*bufio.Reader)
		c.br.Reset(&c.pr)
	}
	if timeout > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
	}
	spare := packetPool.Get().(*packets.Packet)
	p, err := packets.ReadInto(c.br, c.version, uint32(maxSize), spare)
	if err != nil && timeout > 0 && isTimeout(err) {
		err = fmt.Errorf("%w (%s)", errReadTimeout, timeout)
	}
	if p != spare {
		*spare = packets.Packet{} // a failed decode may have set fields
		packetPool.Put(spare)
	}
	if c.br.Buffered() == 0 || err != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
	if err == nil {
		c.s.stats.pktIn[p.Type&15].Add(1)
	}
	return p, err
}

// handle dispatches one packet after CONNECT.
func (c *conn) handle(p *packets.Packet) error {
	switch p.Type {
	case packets.PUBLISH:
		return c.handlePublish(p)
	case packets.PUBACK, packets.PUBREC, packets.PUBCOMP:
		return c.handleOutboundAck(p)
	case packets.PUBREL:
		return c.handlePubrel(p)
	case packets.SUBSCRIBE:
		return c.handleSubscribe(p)
	case packets.UNSUBSCRIBE:
		return c.handleUnsubscribe(p)
	case packets.PINGREQ:
		c.send(&packets.Packet{Type: packets.PINGRESP}) // [MQTT-3.12.4-1]
		return nil
	case packets.DISCONNECT:
		return c.handleDisconnect(p)
	case packets.CONNECT:
		return closeErr(ReasonProtocolError, packets.ProtocolError, "second CONNECT") // [MQTT-3.1.0-2]
	case packets.AUTH:
		return closeErr(ReasonProtocolError, packets.ProtocolError, "AUTH without an authentication method")
	default:
		return closeErr(ReasonProtocolError, packets.ProtocolError, "unexpected "+p.Type.String())
	}
}

func (c *conn) handleDisconnect(p *packets.Packet) error {
	if c.version == packets.V5 {
		if p.Properties.SessionExpirySet && c.sess != nil {
			c.sess.mu.Lock()
			was := c.sess.expiry
			if was == 0 && p.Properties.SessionExpiry != 0 {
				c.sess.mu.Unlock()
				// [MQTT-3.14.2-2]
				return closeErr(ReasonProtocolError, packets.ProtocolError, "session expiry set after CONNECT with 0")
			}
			c.sess.expiry = c.s.capExpiry(p.Properties.SessionExpiry)
			c.sess.mu.Unlock()
		}
		if p.ReasonCode != packets.NormalDisconnection {
			// [MQTT-3.14.4-3] only 0x00 deletes the will; 0x04 and error
			// codes leave it to be published.
			return closeErr(ReasonClientDisconnect, 0, "disconnect with reason "+p.ReasonCode.String())
		}
	}
	c.graceful = true // [MQTT-3.14.4-3] discard the will
	return closeErr(ReasonClientDisconnect, 0, "client disconnect")
}

// finish ends the connection: DISCONNECT (v5) if the reason has a code,
// socket close after the flush, session detach, will, logging.
func (c *conn) finish(err error) {
	s := c.s
	reason, code := ReasonNetworkError, packets.ReasonCode(0)
	var ce *errClose
	if errors.As(err, &ce) {
		reason, code = ce.reason, ce.code
	}
	if r := DisconnectReason(c.reason.Load()); r != ReasonNone {
		reason = r // set by a kick; its DISCONNECT is already queued
		code = 0
	}
	c.setReason(reason)
	linger := false
	if code != 0 && c.connected.Load() && c.version == packets.V5 {
		dp := &packets.Packet{Type: packets.DISCONNECT, ReasonCode: code}
		if c.problemInfo && ce != nil {
			dp.Properties.ReasonString = ce.msg
		}
		// The client may still be sending (a Receive Maximum overrun is a
		// client that keeps writing): see linger. wlinger is set before the
		// send: the writer may flush the DISCONNECT and close the socket
		// before send returns, and must half-close it then, not close it.
		linger = !s.closing.Load()
		c.wlinger.Store(linger)
		if !c.send(dp) {
			linger = false
			c.wlinger.Store(false)
		}
	} else if code != 0 && !c.connected.Load() && c.version == packets.V5 && reason != ReasonConnectTimeout && reason != ReasonNetworkError {
		// [MQTT-4.13.1-1] before CONNACK a v5 error goes in CONNACK.
		c.send(&packets.Packet{Type: packets.CONNACK, ReasonCode: code})
	}
	c.closeWrite()
	if linger {
		c.linger()
	}
	c.ring.abandon()
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
	if c.sess != nil {
		s.detach(c, reason)
	}
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.stats.connsCurrent.Add(-1)
	s.stats.disconnects[reason].Add(1)
	lvl := zap.DebugLevel
	switch reason {
	case ReasonClientDisconnect, ReasonNetworkError, ReasonServerShutdown, ReasonTakeover:
	default:
		lvl = zap.InfoLevel
	}
	if s.log.Core().Enabled(lvl) {
		fields := []zap.Field{zap.String("client", c.clientID), zap.String("listener", c.listener),
			zap.Stringer("reason", reason), zap.String("remote", c.nc.RemoteAddr().String())}
		if err != nil {
			fields = append(fields, zap.Error(err))
		}
		s.logClient(lvl, c, "mqtt: disconnect", fields...)
	}
	close(c.done)
}

// Bounds of the drain after a server-sent DISCONNECT (linger).
const (
	lingerTimeout  = 2 * time.Second
	lingerMaxBytes = 8 << 20
)

// linger delivers a final DISCONNECT to a client that is still writing.
// Closing a socket with unread bytes makes TCP send a reset, and a reset
// discards what the peer has not read yet: the DISCONNECT. So the writer
// half-closes after the flush (FIN after the DISCONNECT, closeSocket) and
// the reader reads and discards what the client still sends, until the
// client closes its side (EOF), lingerTimeout passes or lingerMaxBytes are
// read, then closes the socket. A WebSocket connection has no half-close
// and is closed at once. Nothing read here is decoded.
func (c *conn) linger() {
	if _, ok := c.nc.(interface{ CloseWrite() error }); !ok {
		_ = c.nc.Close()
		return
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	buf := make([]byte, 4096)
	for n := 0; n < lingerMaxBytes; {
		m, err := c.nc.Read(buf)
		n += m
		c.s.stats.bytesIn.Add(uint64(m))
		if err != nil {
			break
		}
	}
	_ = c.nc.Close()
}

// kick asks the connection to end: v5 gets DISCONNECT code, then the socket
// is closed after the flush, which ends the reader.
func (c *conn) kick(r DisconnectReason, code packets.ReasonCode) {
	c.setReason(r)
	c.ring.abandon() // a reader blocked on a full ring must notice
	if code != 0 && c.connected.Load() && c.version == packets.V5 {
		c.send(&packets.Packet{Type: packets.DISCONNECT, ReasonCode: code})
	}
	c.closeWrite()
	if c.wlinger.Load() {
		_ = c.nc.Close() // end a lingering reader at once (shutdown, takeover)
	}
}
