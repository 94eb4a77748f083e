package mqttfront_test

// A session belongs to the identity that created it
// (mqtt.auth.bind_client_id_to_user): another user's CONNECT with that client
// id is refused, whether the owner is offline or online.

import (
	"errors"
	"strconv"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

// ownerUsers configures users alice and bob (password = user name + "-pw").
// Anonymous clients are allowed only when anonymous is true.
func ownerUsers(t *testing.T, anonymous bool) func(*mqttfront.Config) {
	alice, bob := bcryptHash(t, "alice-pw"), bcryptHash(t, "bob-pw")
	return func(c *mqttfront.Config) {
		c.Auth.AllowAnonymous = anonymous
		c.Auth.Users = []auth.User{{Username: "alice", PasswordHash: alice}, {Username: "bob", PasswordHash: bob}}
	}
}

// asUserV3 is persistentV3 logged in as user ("" = anonymous).
func asUserV3(t *testing.T, addr, id, user string, in *inbox) *mqtt.ClientOptions {
	o := persistentV3(t, addr, id, in)
	if user != "" {
		o.SetUsername(user)
		o.SetPassword(user + "-pw")
	}
	return o
}

// ownerV5 is a v5 connect with a session expiry, logged in as user.
func ownerV5(id, user string, clean bool) v5Config {
	cp := &paho.Connect{ClientID: id, CleanStart: clean, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(300)}}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(user+"-pw"), true
	}
	return v5Config{connect: cp}
}

// publishN publishes payloads "0".."n-1" at QoS 1 as alice.
func publishN(t *testing.T, addr, topic string, n int) {
	t.Helper()
	p := connectV5(t, addr, ownerV5(clientID(t, "pub"), "alice", true))
	for i := range n {
		p.pubOK(t, topic, 1, false, strconv.Itoa(i))
	}
	p.close()
}

func TestE2ESessionOwnerV3Offline(t *testing.T) {
	srv, addr := startServer(t, ownerUsers(t, false), nil)
	id := "alice-device-" + clientID(t, "v3")
	in := &inbox{}
	c := connectV3(t, asUserV3(t, addr, id, "alice", in))
	subV3(t, c, "own3/t", 1, in)
	c.Disconnect(100)
	waitConns(t, srv, 0)
	publishN(t, addr, "own3/t", 3)

	for _, clean := range []bool{false, true} {
		stolen := &inbox{}
		o := asUserV3(t, addr, id, "bob", stolen)
		o.SetCleanSession(clean)
		_, tok := tryConnectV3(t, o)
		if !errors.Is(tok.Error(), packets.ErrorRefusedIDRejected) {
			t.Fatalf("bob (clean session %v) with alice's client id: connect error %v; want identifier rejected (0x02)", clean, tok.Error())
		}
		if n := stolen.len(); n != 0 {
			t.Fatalf("bob received %d of alice's messages", n)
		}
	}
	waitFor(t, e2eTimeout, "disconnects[session_owner_mismatch] = 2", func() bool {
		return srv.Stats().Disconnects["session_owner_mismatch"] == 2
	})

	// Alice's queue is intact and delivered to her.
	c2, tok := tryConnectV3(t, asUserV3(t, addr, id, "alice", in))
	if err := tok.Error(); err != nil {
		t.Fatalf("alice reconnect: %v", err)
	}
	if !tok.(*mqtt.ConnectToken).SessionPresent() {
		t.Errorf("alice reconnect: session present = false; want true")
	}
	wantPayloads(t, in.waitN(t, 3), "own3/t", 3)
	c2.Disconnect(100)
}

func TestE2ESessionOwnerV5Offline(t *testing.T) {
	dir := t.TempDir()
	ts := startServerDir(t, dir, ownerUsers(t, false), nil)
	id := "alice-device-" + clientID(t, "v5")
	c := connectV5(t, ts.addr, ownerV5(id, "alice", false))
	c.subOK(t, "own5/t", 1)
	c.close()
	waitConns(t, ts.Server, 0)
	publishN(t, ts.addr, "own5/t", 3)

	bobTries := func(addr string) {
		t.Helper()
		for _, clean := range []bool{false, true} {
			b, err := dialV5(t, addr, ownerV5(id, "bob", clean))
			if err == nil || b.connack == nil || b.connack.ReasonCode != 0x85 {
				t.Fatalf("bob (clean start %v) with alice's client id: connack %+v err %v; want CONNACK 0x85 client identifier not valid", clean, b.connack, err)
			}
			if b.connack.SessionPresent {
				t.Errorf("refused CONNACK has session present = 1 [MQTT-3.2.2-6]")
			}
			if n := b.inbox.len(); n != 0 {
				t.Fatalf("bob received %d of alice's messages", n)
			}
		}
	}
	bobTries(ts.addr)

	// The owner survives a restart.
	ts.stop()
	ts2 := startServerDir(t, dir, ownerUsers(t, false), nil)
	bobTries(ts2.addr)

	c2 := connectV5(t, ts2.addr, ownerV5(id, "alice", false))
	if !c2.connack.SessionPresent {
		t.Errorf("alice reconnect: session present = false; want true")
	}
	wantPayloads(t, c2.inbox.waitN(t, 3), "own5/t", 3)
}

// TestE2ESessionOwnerOnline: another user cannot kick the owner's live
// connection; the owner can (a device reconnecting over a half-open socket).
func TestE2ESessionOwnerOnline(t *testing.T) {
	_, addr := startServer(t, ownerUsers(t, false), nil)
	t.Run("v5", func(t *testing.T) {
		id := "alice-device-" + clientID(t, "on5")
		a := connectV5(t, addr, ownerV5(id, "alice", true))
		a.subOK(t, "live5/t", 1)
		b, err := dialV5(t, addr, ownerV5(id, "bob", true))
		if err == nil || b.connack == nil || b.connack.ReasonCode != 0x85 {
			t.Fatalf("bob takes over alice's live connection: connack %+v err %v; want CONNACK 0x85", b.connack, err)
		}
		// Alice is still connected and served.
		a.pubOK(t, "live5/t", 1, false, "still mine")
		a.inbox.waitMsg(t, "live5/t", "still mine")
		select {
		case d := <-a.disconnects:
			t.Fatalf("alice got DISCONNECT 0x%02X; want none", d.ReasonCode)
		default:
		}

		// Alice herself may take over.
		a2 := connectV5(t, addr, ownerV5(id, "alice", false))
		if d := a.waitDisconnect(t); d.ReasonCode != 0x8E {
			t.Errorf("old connection got DISCONNECT 0x%02X; want 0x8E session taken over", d.ReasonCode)
		}
		if !a2.connack.SessionPresent {
			t.Errorf("alice's takeover: session present = false; want true")
		}
	})
	t.Run("v3", func(t *testing.T) {
		id := "alice-device-" + clientID(t, "on3")
		lost := make(chan error, 1)
		in := &inbox{}
		o := asUserV3(t, addr, id, "alice", in)
		o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
		a := connectV3(t, o)
		subV3(t, a, "live3/t", 1, in)
		_, tok := tryConnectV3(t, asUserV3(t, addr, id, "bob", &inbox{}))
		if !errors.Is(tok.Error(), packets.ErrorRefusedIDRejected) {
			t.Fatalf("bob takes over alice's live connection: %v; want identifier rejected (0x02)", tok.Error())
		}
		pubV3(t, a, "live3/t", 1, false, "still mine")
		in.waitMsg(t, "live3/t", "still mine")
		if len(lost) != 0 || !a.IsConnectionOpen() {
			t.Fatalf("alice lost her connection after bob's refused CONNECT")
		}
		a2 := connectV3(t, asUserV3(t, addr, id, "alice", in))
		waitFor(t, e2eTimeout, "alice's first connection to be taken over", func() bool { return len(lost) == 1 })
		if !a2.IsConnectionOpen() {
			t.Error("alice's second connection not open after her own takeover")
		}
	})
}

// TestE2ESessionOwnerAnonymous: anonymous clients share one identity. They
// cannot take a user's session; a user adopts a session an anonymous
// client left (the migration from anonymous access to accounts).
func TestE2ESessionOwnerAnonymous(t *testing.T) {
	_, addr := startServer(t, ownerUsers(t, true), nil)
	id := "alice-device-" + clientID(t, "anon")
	c := connectV5(t, addr, ownerV5(id, "alice", false))
	c.subOK(t, "anon/t", 1)
	c.close()
	if b, err := dialV5(t, addr, ownerV5(id, "", false)); err == nil || b.connack == nil || b.connack.ReasonCode != 0x85 {
		t.Fatalf("anonymous client with alice's client id: connack %+v err %v; want CONNACK 0x85", b.connack, err)
	}

	// Anonymous sessions are one identity's: another anonymous client may
	// resume one, and a user adopts it (and then owns it).
	anonID := "anon-device-" + clientID(t, "anon")
	a := connectV5(t, addr, ownerV5(anonID, "", false))
	a.subOK(t, "anon/t", 1)
	a.close()
	a2 := connectV5(t, addr, ownerV5(anonID, "", false))
	if !a2.connack.SessionPresent {
		t.Errorf("anonymous resume: session present = false; want true")
	}
	a2.close()
	b := connectV5(t, addr, ownerV5(anonID, "bob", false))
	if !b.connack.SessionPresent {
		t.Errorf("bob adopting an anonymous session: session present = false; want true")
	}
	b.close()
	if a3, err := dialV5(t, addr, ownerV5(anonID, "", false)); err == nil || a3.connack == nil || a3.connack.ReasonCode != 0x85 {
		t.Fatalf("anonymous client on the session bob adopted: connack %+v err %v; want CONNACK 0x85", a3.connack, err)
	}
}

// TestE2ESessionOwnerOff: bind_client_id_to_user=false restores the old
// behaviour (any authenticated client takes over any client id).
func TestE2ESessionOwnerOff(t *testing.T) {
	users := ownerUsers(t, false)
	srv, addr := startServer(t, func(c *mqttfront.Config) {
		users(c)
		testkit.Set(t, c, "bind_client_id_to_user", false)
	}, nil)
	id := "alice-device-" + clientID(t, "off")
	a := connectV5(t, addr, ownerV5(id, "alice", false))
	a.subOK(t, "off/t", 1)
	a.close()
	waitConns(t, srv, 0)
	publishN(t, addr, "off/t", 2)
	b := connectV5(t, addr, ownerV5(id, "bob", false))
	if !b.connack.SessionPresent {
		t.Errorf("bob with bind_client_id_to_user=false: session present = false; want true (old behaviour)")
	}
	wantPayloads(t, b.inbox.waitN(t, 2), "off/t", 2)
}
