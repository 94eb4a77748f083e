package benchkit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"
)

// pub5 is an MQTT 5 connection of the pub mode: a paho.golang client over a
// socket dialled here (so SourceIPs apply).
//
// paho's Publish blocks until the PUBACK, so publishing from one goroutine
// per message would put the messages on the wire out of order. Instead each
// message is sent with PublishMethod_AsyncSend from the publishing loop (in
// order), and ackSession hands the acknowledgement to a channel of ours.
type pub5 struct {
	c   *paho.Client
	ses *ackSession
	win int // min(Inflight, the server's Receive Maximum)
}

// ackSession is paho's in-memory session state, except that a QoS 1/2
// publish whose context carries a respKey channel is acknowledged on that
// channel instead of paho's own (which nobody reads after an AsyncSend).
type ackSession struct{ *state.State }

// respKey is the context key of a publish's acknowledgement channel (a
// chan packets.ControlPacket with room for one).
type respKey struct{}

func (s ackSession) AddToSession(ctx context.Context, p session.Packet, resp chan<- packets.ControlPacket) error {
	if ch, ok := ctx.Value(respKey{}).(chan packets.ControlPacket); ok {
		resp = ch
	}
	return s.State.AddToSession(ctx, p, resp)
}

// dial5 connects client number i with MQTT 5, clean start, Receive Maximum
// cfg.Inflight. It waits at most 30 s for the TCP connection and at most
// min(30 s, cfg.AckTimeout) for the CONNACK (paho's PacketTimeout bounds
// both the CONNACK and each publish's wait for a send slot). A refused
// CONNACK is the error "connack_0x.." (its reason code).
func dial5(ctx context.Context, cfg PubConfig, i int) (publisher, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nc, err := dialerFor(cfg.SourceIPs, i, 30*time.Second).DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	ses := &ackSession{State: state.NewInMemory()}
	id := fmt.Sprintf("%s%d", cfg.ClientPrefix, i)
	c := paho.NewClient(paho.ClientConfig{
		ClientID:      id,
		Conn:          nc,
		Session:       ses,
		PacketTimeout: cfg.AckTimeout,
	})
	recvMax := uint16(min(cfg.Inflight, math.MaxUint16))
	ca, err := c.Connect(ctx, &paho.Connect{
		ClientID:   id,
		KeepAlive:  uint16(min(cfg.KeepAlive/time.Second, math.MaxUint16)),
		CleanStart: true,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &recvMax},
	})
	if err != nil { // paho has closed nc
		_ = ses.Close()
		switch {
		case ca != nil && ca.ReasonCode >= 0x80:
			return nil, fmt.Errorf("connack_0x%02x", ca.ReasonCode)
		case errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("connect timeout: %w", err)
		}
		return nil, err
	}
	win := cfg.Inflight
	if ca.Properties != nil && ca.Properties.ReceiveMaximum != nil {
		win = min(win, int(*ca.Properties.ReceiveMaximum))
	}
	return &pub5{c: c, ses: ses, win: max(win, 1)}, nil
}

func (p *pub5) publish(ctx context.Context, topic string, qos byte, payload []byte) func(time.Duration) string {
	var resp chan packets.ControlPacket
	if qos > 0 {
		resp = make(chan packets.ControlPacket, 1) // the session's send must not block
		ctx = context.WithValue(ctx, respKey{}, resp)
	}
	_, err := p.c.PublishWithOptions(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: payload},
		paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	if err != nil && (qos == 0 || !errors.Is(err, paho.ErrNetworkErrorAfterStored)) {
		r := reason5(err)
		return func(time.Duration) string { return r }
	}
	if qos == 0 {
		return func(time.Duration) string { return "" }
	}
	// Stored in the session (even if the write failed): the answer comes on
	// resp, or the connection ends (a session without expiry then forgets
	// its messages without answering), or the wait times out.
	done := p.c.Done()
	return func(timeout time.Duration) string {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case r := <-resp:
			return ackReason(r)
		case <-t.C:
			return "timeout"
		case <-done:
			select {
			case r := <-resp:
				return ackReason(r)
			default:
				return "connection_lost"
			}
		}
	}
}

func (p *pub5) window() int { return p.win }

func (p *pub5) disconnect() {
	_ = p.c.Disconnect(&paho.Disconnect{ReasonCode: 0}) // waits for the client's goroutines
	_ = p.ses.Close()
}

// ackReason is "" for a successful acknowledgement, else its error reason:
// "puback_0x87" for a PUBACK with reason code 0x87, likewise "pubrec_0x.."
// and "pubcomp_0x..", "connection_lost" when the session ended first.
func ackReason(r packets.ControlPacket) string {
	switch p := r.Content.(type) {
	case *packets.Puback:
		if p.ReasonCode >= 0x80 {
			return fmt.Sprintf("puback_0x%02x", p.ReasonCode)
		}
	case *packets.Pubrec:
		if p.ReasonCode >= 0x80 {
			return fmt.Sprintf("pubrec_0x%02x", p.ReasonCode)
		}
	case *packets.Pubcomp:
		if p.ReasonCode >= 0x80 {
			return fmt.Sprintf("pubcomp_0x%02x", p.ReasonCode)
		}
	case nil: // the zero ControlPacket: the session was closed
		return "connection_lost"
	default:
		return fmt.Sprintf("unexpected_%s", r.PacketType())
	}
	return ""
}

// reason5 names a paho.golang publish error like the v3 path's reason.
func reason5(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, session.ErrNoConnection):
		return "not_connected"
	}
	return reason(err)
}
