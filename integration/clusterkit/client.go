package clusterkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Options describe one MQTT connection.
type Options struct {
	Addr     string // host:port: a replica's listener or the proxy
	ClientID string
	Version  byte // 4 (MQTT 3.1.1, paho.mqtt.golang) or 5 (paho.golang)
	// CleanStart: v5 Clean Start, v3 Clean Session.
	CleanStart bool
	// Expiry is the v5 Session Expiry Interval in seconds (ignored by v3,
	// whose session without Clean Session lasts until the server's
	// limit).
	Expiry uint32
	// OnMessage gets every PUBLISH the server sends, on the client's
	// goroutine, before it is acknowledged. Nil: ignored.
	OnMessage func(Message)
	// Timeout bounds the dial and the CONNACK wait; default 10 s.
	Timeout time.Duration
}

// Message is one PUBLISH a client received.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Dup     bool // the DUP flag: a redelivery of a QoS 1/2 message
	Retain  bool
	At      time.Time
}

// RefusedError is a CONNACK with a failure code (v5 reason code, v3
// return code).
type RefusedError struct{ Code byte }

func (e *RefusedError) Error() string { return fmt.Sprintf("CONNACK refused: code %#x", e.Code) }

// ErrNotAcked is a QoS 1/2 publish the server answered with a failure
// reason code (v5).
var ErrNotAcked = errors.New("publish refused by the server")

// Client is one MQTT connection, v3 or v5. Its methods are safe for
// concurrent use. Connect dials; Close or Drop ends it.
type Client struct {
	opts           Options
	sessionPresent bool
	dead           chan struct{} // closed when the connection is over

	mu         sync.Mutex
	endOnce    sync.Once
	serverCode int // the server's DISCONNECT reason (v5), -1 none
	endErr     error

	v3   mqtt.Client
	v5   *paho.Client
	conn net.Conn // the TCP connection, for Drop
}

// Connect dials o.Addr and sends CONNECT; it returns once the CONNACK
// accepted it (a *RefusedError when it did not).
func Connect(ctx context.Context, o Options) (*Client, error) {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	c := &Client{opts: o, dead: make(chan struct{}), serverCode: -1}
	switch o.Version {
	case 4:
		return c, c.connectV3(ctx)
	case 5:
		return c, c.connectV5(ctx)
	}
	return nil, fmt.Errorf("clusterkit: version %d: want 4 or 5", o.Version)
}

func (c *Client) end(err error) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.endErr = err
		c.mu.Unlock()
		close(c.dead)
	})
}

func (c *Client) connectV3(ctx context.Context) error {
	o := mqtt.NewClientOptions().AddBroker("tcp://" + c.opts.Addr)
	o.SetClientID(c.opts.ClientID)
	o.SetProtocolVersion(4)
	o.SetCleanSession(c.opts.CleanStart)
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetResumeSubs(false)
	o.SetConnectTimeout(c.opts.Timeout)
	o.SetWriteTimeout(30 * time.Second)
	o.SetKeepAlive(30 * time.Second)
	o.SetOrderMatters(true)
	o.SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
		d := net.Dialer{Timeout: c.opts.Timeout}
		nc, err := d.DialContext(ctx, "tcp", u.Host)
		if err == nil {
			c.mu.Lock()
			c.conn = nc
			c.mu.Unlock()
		}
		return nc, err
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { c.end(err) })
	if on := c.opts.OnMessage; on != nil {
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			on(Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Dup: m.Duplicate(), Retain: m.Retained(), At: time.Now()})
		})
	}
	c.v3 = mqtt.NewClient(o)
	tok := c.v3.Connect()
	if err := waitV3(ctx, tok, c.opts.Timeout); err != nil {
		c.v3.Disconnect(0)
		c.end(err)
		// The return code is read only from a completed token: after a
		// timeout paho's connect goroutine may still write it.
		select {
		case <-tok.Done():
			if ct, ok := tok.(*mqtt.ConnectToken); ok && ct.ReturnCode() != 0 {
				return &RefusedError{Code: ct.ReturnCode()}
			}
		default:
		}
		return fmt.Errorf("connect %s at %s: %w", c.opts.ClientID, c.opts.Addr, err)
	}
	c.sessionPresent = tok.(*mqtt.ConnectToken).SessionPresent()
	return nil
}

// waitV3 waits for a paho v3 token within d or until ctx ends.
func waitV3(ctx context.Context, tok mqtt.Token, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-t.C:
		return fmt.Errorf("no answer within %v", d)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) connectV5(ctx context.Context) error {
	d := net.Dialer{Timeout: c.opts.Timeout}
	nc, err := d.DialContext(ctx, "tcp", c.opts.Addr)
	if err != nil {
		c.end(err)
		return fmt.Errorf("dial %s: %w", c.opts.Addr, err)
	}
	c.conn = nc
	cc := paho.ClientConfig{ClientID: c.opts.ClientID, Conn: nc, PacketTimeout: 30 * time.Second,
		OnServerDisconnect: func(d *paho.Disconnect) {
			c.mu.Lock()
			c.serverCode = int(d.ReasonCode)
			c.mu.Unlock()
		},
		OnClientError: func(err error) { c.end(err) },
	}
	if on := c.opts.OnMessage; on != nil {
		cc.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			on(Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Dup: p.Duplicate(), Retain: p.Retain, At: time.Now()})
			return true, nil
		}}
	}
	c.v5 = paho.NewClient(cc)
	cp := &paho.Connect{ClientID: c.opts.ClientID, CleanStart: c.opts.CleanStart, KeepAlive: 30}
	if c.opts.Expiry > 0 {
		exp := c.opts.Expiry
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &exp}
	}
	cctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	ca, err := c.v5.Connect(cctx, cp)
	if err != nil {
		_ = nc.Close()
		<-c.v5.Done()
		c.end(err)
		if ca != nil && ca.ReasonCode >= 0x80 {
			return &RefusedError{Code: ca.ReasonCode}
		}
		return fmt.Errorf("connect %s at %s: %w", c.opts.ClientID, c.opts.Addr, err)
	}
	c.sessionPresent = ca.SessionPresent
	go func() {
		select {
		case <-c.v5.Done():
			c.end(errors.New("connection closed"))
		case <-c.dead:
		}
	}()
	return nil
}

// SessionPresent is the CONNACK's Session Present flag.
func (c *Client) SessionPresent() bool { return c.sessionPresent }

// Done is closed once the connection is over (lost, closed by the
// server, or Close/Drop).
func (c *Client) Done() <-chan struct{} { return c.dead }

// Alive reports whether the connection is still up.
func (c *Client) Alive() bool {
	select {
	case <-c.dead:
		return false
	default:
	}
	if c.v3 != nil && !c.v3.IsConnectionOpen() {
		c.end(errors.New("connection closed"))
		return false
	}
	return true
}

// ServerDisconnect is the reason code of the server's DISCONNECT (v5:
// 0x8E Session taken over, 0x8B Server shutting down), false when the
// server sent none.
func (c *Client) ServerDisconnect() (byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return byte(c.serverCode), c.serverCode >= 0
}

// Publish sends one PUBLISH and, at QoS 1/2, waits for its PUBACK /
// PUBCOMP (nil: acknowledged with success); at QoS 0 it returns once
// written.
func (c *Client) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	if c.v3 != nil {
		return waitV3(ctx, c.v3.Publish(topic, qos, retain, payload), 30*time.Second)
	}
	resp, err := c.v5.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: payload})
	if err != nil {
		return err
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		return fmt.Errorf("%w: reason code %#x", ErrNotAcked, resp.ReasonCode)
	}
	return nil
}

// Subscribe subscribes to filter at qos and wants a granted QoS back.
func (c *Client) Subscribe(ctx context.Context, filter string, qos byte) error {
	if c.v3 != nil {
		tok := c.v3.Subscribe(filter, qos, nil)
		if err := waitV3(ctx, tok, 30*time.Second); err != nil {
			return err
		}
		if code := tok.(*mqtt.SubscribeToken).Result()[filter]; code >= 0x80 {
			return fmt.Errorf("SUBACK %#x for %s", code, filter)
		}
		return nil
	}
	sa, err := c.v5.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		return err
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		return fmt.Errorf("SUBACK %v for %s", sa.Reasons, filter)
	}
	return nil
}

// Close sends DISCONNECT (normal) and waits until the connection is gone.
// Idempotent.
func (c *Client) Close() {
	if c.v3 != nil {
		if c.v3.IsConnectionOpen() {
			c.v3.Disconnect(250)
		}
	} else if c.v5 != nil {
		select {
		case <-c.v5.Done():
		default:
			_ = c.v5.Disconnect(&paho.Disconnect{ReasonCode: 0})
			<-c.v5.Done()
		}
	}
	c.end(errors.New("closed"))
}

// Drop closes the TCP connection without DISCONNECT, as a device that
// loses power does (its will fires; its session goes offline).
func (c *Client) Drop() {
	c.mu.Lock()
	nc := c.conn
	c.mu.Unlock()
	if nc != nil {
		_ = nc.Close()
	}
	if c.v3 != nil {
		c.v3.Disconnect(0)
	} else if c.v5 != nil {
		<-c.v5.Done()
	}
	c.end(errors.New("dropped"))
}
