package mqttfront_test

import (
	"errors"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestE2EAuth(t *testing.T) {
	hash := bcryptHash(t, "s3cret")
	sink := newSink()
	_, addr := startServer(t, func(c *mqttfront.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.Users = []auth.User{{Username: "alice", PasswordHash: hash}}
	}, sink)

	v3 := func(t *testing.T, user, pass string) error {
		o := v3Opts(t, addr)
		if user != "" {
			o.SetUsername(user)
			o.SetPassword(pass)
		}
		_, tok := tryConnectV3(t, o)
		return tok.Error()
	}
	v5 := func(t *testing.T, user, pass string) (byte, error) {
		cp := &paho.Connect{CleanStart: true}
		if user != "" {
			cp.Username, cp.UsernameFlag = user, true
			cp.Password, cp.PasswordFlag = []byte(pass), true
		}
		c, err := dialV5(t, addr, v5Config{connect: cp})
		if c.connack == nil {
			return 0, err
		}
		return c.connack.ReasonCode, err
	}

	t.Run("v3 good password", func(t *testing.T) {
		if err := v3(t, "alice", "s3cret"); err != nil {
			t.Fatalf("connect: %v; want accepted", err)
		}
		// The sink learns who published.
		o := v3Opts(t, addr)
		o.SetUsername("alice")
		o.SetPassword("s3cret")
		c := connectV3(t, o)
		pubV3(t, c, "who/t", 1, false, "me")
		ms := byTopic(sink, "who/t")
		if len(ms) != 1 || ms[0].Username != "alice" || ms[0].ClientID != o.ClientID || ms[0].ReceivedAt.IsZero() {
			t.Errorf("sink messages %+v; want one from alice with client id %q and a receive time", ms, o.ClientID)
		}
	})
	t.Run("v3 wrong password", func(t *testing.T) {
		if err := v3(t, "alice", "nope"); !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
			t.Fatalf("connect error %v; want bad user name or password (0x04)", err)
		}
	})
	t.Run("v3 unknown user", func(t *testing.T) {
		if err := v3(t, "mallory", "s3cret"); !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
			t.Fatalf("connect error %v; want bad user name or password (0x04)", err)
		}
	})
	t.Run("v3 anonymous refused", func(t *testing.T) {
		err := v3(t, "", "")
		if !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) && !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
			t.Fatalf("connect error %v; want refused with 0x04 or 0x05", err)
		}
	})
	t.Run("v5 good password", func(t *testing.T) {
		if rc, err := v5(t, "alice", "s3cret"); err != nil || rc != 0 {
			t.Fatalf("CONNACK 0x%02X err %v; want success", rc, err)
		}
	})
	t.Run("v5 wrong password", func(t *testing.T) {
		if rc, _ := v5(t, "alice", "nope"); rc != 0x86 {
			t.Fatalf("CONNACK 0x%02X; want 0x86 bad user name or password", rc)
		}
	})
	t.Run("v5 anonymous refused", func(t *testing.T) {
		if rc, _ := v5(t, "", ""); rc != 0x86 && rc != 0x87 {
			t.Fatalf("CONNACK 0x%02X; want 0x86 or 0x87", rc)
		}
	})
}

func TestE2EACL(t *testing.T) {
	sink := newSink()
	srv, addr := startServer(t, func(c *mqttfront.Config) {
		c.Auth.ACL = auth.ACLConfig{NoMatch: "allow", Rules: []auth.ACLRule{
			{Permission: "deny", Action: "subscribe", Topics: []string{"secret/#"}},
			{Permission: "deny", Action: "publish", Topics: []string{"forbidden/#"}},
		}}
	}, sink)
	_ = srv
	var all inbox
	watcher := connectV3(t, v3Opts(t, addr))
	subV3(t, watcher, "forbidden/#", 1, &all)
	subV3(t, watcher, "acl/marker", 1, &all)

	t.Run("v3 subscribe denied", func(t *testing.T) {
		c := connectV3(t, v3Opts(t, addr))
		tok := c.Subscribe("secret/x", 1, func(mqtt.Client, mqtt.Message) {})
		waitTok(t, tok, "subscribe")
		if got := tok.(*mqtt.SubscribeToken).Result()["secret/x"]; got != 0x80 {
			t.Errorf("SUBACK 0x%02X; want 0x80 failure", got)
		}
	})
	t.Run("v5 subscribe denied", func(t *testing.T) {
		c := connectV5(t, addr, v5Config{})
		r := c.sub(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "secret/x", QoS: 1}, {Topic: "open/x", QoS: 1}}})
		if len(r) != 2 || r[0] != 0x87 || r[1] != 1 {
			t.Errorf("SUBACK %v; want [0x87 1]", r)
		}
	})
	t.Run("v5 publish denied", func(t *testing.T) {
		c := connectV5(t, addr, v5Config{})
		pr, err := c.pub(&paho.Publish{Topic: "forbidden/v5", QoS: 1, Payload: []byte("x")})
		if err == nil || pr == nil || pr.ReasonCode != 0x87 {
			t.Errorf("PUBACK %+v err %v; want reason 0x87", pr, err)
		}
	})
	t.Run("v3 publish dropped", func(t *testing.T) {
		c := connectV3(t, v3Opts(t, addr))
		// v3 has no way to say no: the publish is acked and dropped.
		pubV3(t, c, "forbidden/v3", 1, false, "x")
		pubV3(t, c, "acl/marker", 1, false, "end")
		all.waitMsg(t, "acl/marker", "end")
	})
	for _, m := range all.all() {
		if m.Topic != "acl/marker" {
			t.Errorf("denied publish delivered on %q", m.Topic)
		}
	}
	for _, m := range sink.Messages() {
		if m.Topic == "forbidden/v3" || m.Topic == "forbidden/v5" {
			t.Errorf("denied publish on %q reached the sink", m.Topic)
		}
	}
}

// TestE2ESetAuthHotReload swaps users while a client stays connected.
func TestE2ESetAuthHotReload(t *testing.T) {
	srv, addr := startServer(t, func(c *mqttfront.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.Users = []auth.User{{Username: "old", PasswordHash: bcryptHash(t, "pw")}}
	}, nil)
	o := v3Opts(t, addr)
	o.SetUsername("old")
	o.SetPassword("pw")
	old := connectV3(t, o)

	cfg := auth.Config{Users: []auth.User{{Username: "new", PasswordHash: bcryptHash(t, "pw2")}}}
	st, err := auth.NewStatic(cfg)
	if err != nil {
		t.Fatal(err)
	}
	acl, err := auth.NewACL(auth.ACLConfig{NoMatch: "allow"})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAuth(st, acl)

	if !old.IsConnectionOpen() {
		t.Error("existing connection dropped by SetAuth")
	}
	var in inbox
	subV3(t, old, "hot/t", 1, &in)
	pubV3(t, old, "hot/t", 1, false, "still")
	in.waitMsg(t, "hot/t", "still")

	_, tok := tryConnectV3(t, o)
	if !errors.Is(tok.Error(), packets.ErrorRefusedBadUsernameOrPassword) {
		t.Errorf("old user after reload: %v; want refused", tok.Error())
	}
	o2 := v3Opts(t, addr)
	o2.SetUsername("new")
	o2.SetPassword("pw2")
	connectV3(t, o2)
}
