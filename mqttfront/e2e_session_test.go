package mqttfront_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// persistentV3 returns options for a clean-session=false paho v3 client whose
// deliveries (also those for subscriptions made in an earlier connection) go
// to in.
func persistentV3(t *testing.T, addr, id string, in *inbox) *mqtt.ClientOptions {
	o := v3Opts(t, addr)
	o.SetClientID(id)
	o.SetCleanSession(false)
	o.SetDefaultPublishHandler(in.v3Handler())
	return o
}

// persistentV5 is a clean-start=false connect with a session expiry.
func persistentV5(id string) v5Config {
	return v5Config{connect: &paho.Connect{ClientID: id, CleanStart: false,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(300)}}}
}

func wantPayloads(t *testing.T, got []rcv, topic string, n int) {
	t.Helper()
	var ps []string
	for _, m := range got {
		if m.Topic == topic {
			ps = append(ps, m.Payload)
		}
	}
	if len(ps) != n {
		t.Fatalf("%d messages on %s (%v); want %d", len(ps), topic, ps, n)
	}
	for i, p := range ps {
		if p != strconv.Itoa(i) {
			t.Errorf("message %d on %s = %q; want %d in order", i, topic, p, i)
		}
	}
}

func TestE2ESessionV3Persistent(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	id := clientID(t, "p3")
	in := &inbox{}
	c := connectV3(t, persistentV3(t, addr, id, in))
	subV3(t, c, "sess3/t", 1, in)
	c.Disconnect(100)

	pub := connectV3(t, v3Opts(t, addr))
	for i := range 5 {
		pubV3(t, pub, "sess3/t", 1, false, strconv.Itoa(i))
	}
	c2, tok := tryConnectV3(t, persistentV3(t, addr, id, in))
	if err := tok.Error(); err != nil {
		t.Fatal(err)
	}
	if !tok.(*mqtt.ConnectToken).SessionPresent() {
		t.Errorf("CONNACK session present = false; want true [MQTT-3.2.2-2]")
	}
	wantPayloads(t, in.waitN(t, 5), "sess3/t", 5)
	_ = c2
}

func TestE2ESessionV5Persistent(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	id := clientID(t, "p5")
	c := connectV5(t, addr, persistentV5(id))
	if c.connack.SessionPresent {
		t.Errorf("first connect: session present = true; want false")
	}
	c.subOK(t, "sess5/t", 1)
	c.close()

	pub := connectV5(t, addr, v5Config{})
	for i := range 5 {
		pub.pubOK(t, "sess5/t", 1, false, strconv.Itoa(i))
	}
	c2 := connectV5(t, addr, persistentV5(id))
	if !c2.connack.SessionPresent {
		t.Errorf("reconnect: session present = false; want true")
	}
	wantPayloads(t, c2.inbox.waitN(t, 5), "sess5/t", 5)

	// Clean start discards the session.
	c2.close()
	c3 := connectV5(t, addr, v5Config{connect: &paho.Connect{ClientID: id, CleanStart: true}})
	if c3.connack.SessionPresent {
		t.Errorf("clean start: session present = true; want false [MQTT-3.2.2-2]")
	}
}

func TestE2ESessionAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ts := startServerDir(t, dir, nil, nil)
	id := clientID(t, "r5")
	c := connectV5(t, ts.addr, persistentV5(id))
	c.subOK(t, "rst/t", 1)
	c.close()

	pub := connectV3(t, v3Opts(t, ts.addr))
	for i := range 2 {
		pubV3(t, pub, "rst/t", 1, false, strconv.Itoa(i))
	}
	done := make(chan error, 1)
	ts.Publish(&mqttfront.Message{Topic: "rst/t", Payload: []byte("2"), QoS: 1}, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatalf("Publish done(%v); want nil", err)
	}
	pub.Disconnect(100)
	ts.stop()

	ts2 := startServerDir(t, dir, nil, nil)
	c2 := connectV5(t, ts2.addr, persistentV5(id))
	if !c2.connack.SessionPresent {
		t.Errorf("after restart: session present = false; want true")
	}
	wantPayloads(t, c2.inbox.waitN(t, 3), "rst/t", 3)
	// The subscription itself survived too.
	p2 := connectV5(t, ts2.addr, v5Config{})
	p2.pubOK(t, "rst/t", 1, false, "3")
	c2.inbox.waitMsg(t, "rst/t", "3")
}

func TestE2ETakeover(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	t.Run("v5", func(t *testing.T) {
		id := clientID(t, "dup")
		a := connectV5(t, addr, v5Config{connect: &paho.Connect{ClientID: id, CleanStart: true}})
		b := connectV5(t, addr, v5Config{connect: &paho.Connect{ClientID: id, CleanStart: true}})
		if d := a.waitDisconnect(t); d.ReasonCode != 0x8E {
			t.Errorf("first connection got DISCONNECT 0x%02X; want 0x8E session taken over [MQTT-3.1.4-3]", d.ReasonCode)
		}
		b.subOK(t, "take/t", 1)
		b.pubOK(t, "take/t", 1, false, "still here")
		b.inbox.waitMsg(t, "take/t", "still here")
	})
	t.Run("v3", func(t *testing.T) {
		id := clientID(t, "dup")
		lost := make(chan error, 1)
		o := v3Opts(t, addr)
		o.SetClientID(id)
		o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
		connectV3(t, o)
		o2 := v3Opts(t, addr)
		o2.SetClientID(id)
		b := connectV3(t, o2)
		waitFor(t, e2eTimeout, "first client to lose its connection", func() bool { return len(lost) == 1 })
		if !b.IsConnectionOpen() {
			t.Error("second client not connected after takeover")
		}
	})
}

func TestE2EEmptyClientID(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	t.Run("v5 assigned", func(t *testing.T) {
		c := connectV5(t, addr, v5Config{emptyID: true})
		if c.connack.Properties == nil || c.connack.Properties.AssignedClientID == "" {
			t.Fatalf("CONNACK without Assigned Client Identifier for an empty id [MQTT-3.2.2-16]")
		}
	})
	t.Run("v3.1.1 clean", func(t *testing.T) {
		o := v3Opts(t, addr)
		o.SetClientID("")
		connectV3(t, o)
	})
	t.Run("v3.1.1 not clean refused", func(t *testing.T) {
		o := v3Opts(t, addr)
		o.SetClientID("")
		o.SetCleanSession(false)
		_, tok := tryConnectV3(t, o)
		if !errors.Is(tok.Error(), packets.ErrorRefusedIDRejected) {
			t.Errorf("connect error %v; want identifier rejected (0x02) [MQTT-3.1.3-8]", tok.Error())
		}
	})
}

// TestE2EOfflineQueueBound: with max_queued_messages=3 an offline session
// keeps 3 of 10 QoS 1 messages; the rest are dropped.
func TestE2EOfflineQueueBound(t *testing.T) {
	srv, addr := startServer(t, func(c *mqttfront.Config) { testkit.Set(t, c, "max_queued_messages", 3) }, nil)
	id := clientID(t, "q")
	c := connectV5(t, addr, persistentV5(id))
	c.subOK(t, "oq/t", 1)
	c.close()
	waitConns(t, srv, 0) // the session is offline before anything is published
	pub := connectV5(t, addr, v5Config{})
	for i := range 10 {
		pub.pubOK(t, "oq/t", 1, false, strconv.Itoa(i))
	}
	c2 := connectV5(t, addr, persistentV5(id))
	pub.pubOK(t, "oq/t", 1, false, "marker")
	c2.inbox.waitMsg(t, "oq/t", "marker")
	if got := len(c2.inbox.all()) - 1; got != 3 {
		t.Errorf("%d queued messages delivered after reconnect; want max_queued_messages=3", got)
	}
}
