package testkit

import (
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// V3Options are a paho MQTT 3.1.1 client's options for tests: the
// broker at addr (host:port, or a URL with its scheme), client id id, a
// clean session, no automatic reconnect or connect retry, 5 s connect and
// write timeouts and a 30 s keepalive. Callers change what their test
// needs (the session, longer timeouts, handlers).
func V3Options(addr, id string) *mqtt.ClientOptions {
	if !strings.Contains(addr, "://") {
		addr = "tcp://" + addr
	}
	o := mqtt.NewClientOptions().AddBroker(addr)
	o.SetClientID(id)
	o.SetProtocolVersion(4)
	o.SetCleanSession(true)
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetConnectTimeout(5 * time.Second)
	o.SetWriteTimeout(5 * time.Second)
	o.SetKeepAlive(30 * time.Second)
	return o
}

// ConnectV3 connects a paho v3 client with client id id to addr (host:port
// of a TCP listener), auto reconnect off, or fails the test within 5 s.
// It is disconnected at the test's end.
func ConnectV3(t testing.TB, addr, id string) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetAutoReconnect(false)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// CloseV5 disconnects a paho.golang client normally (reason 0) unless it
// already ended, and waits until it has.
func CloseV5(c *paho.Client) {
	select {
	case <-c.Done():
		return
	default:
	}
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	<-c.Done()
}
