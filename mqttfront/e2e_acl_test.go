package mqttfront_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// The per-delivery ACL check (issue 10, item 1): the subscribe permission is
// checked against the topic name of every message delivered, so a wildcard
// subscription does not carry what a deny rule forbids.

// denyBobSecret is the setup: users alice and bob, bob denied
// secret/#, everything else allowed.
func denyBobSecret(t *testing.T) func(*mqttfront.Config) {
	alice, bob := bcryptHash(t, "alice-pw"), bcryptHash(t, "bob-pw")
	return func(c *mqttfront.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.Users = []auth.User{{Username: "alice", PasswordHash: alice}, {Username: "bob", PasswordHash: bob}}
		c.Auth.ACL = bobSecretACL()
	}
}

func bobSecretACL() auth.ACLConfig {
	return auth.ACLConfig{NoMatch: "allow", Rules: []auth.ACLRule{
		{Permission: "deny", Action: "all", Username: "bob", Topics: []string{"secret/#"}},
	}}
}

// asUser returns v3 options logged in as user (password user+"-pw").
func asUser(t *testing.T, addr, user string) *mqtt.ClientOptions {
	o := v3Opts(t, addr)
	o.SetUsername(user)
	o.SetPassword(user + "-pw")
	return o
}

// asUserV5 returns a v5 config logged in as user.
func asUserV5(user string, cp *paho.Connect) v5Config {
	if cp == nil {
		cp = &paho.Connect{CleanStart: true}
	}
	cp.Username, cp.UsernameFlag = user, true
	cp.Password, cp.PasswordFlag = []byte(user+"-pw"), true
	return v5Config{connect: cp}
}

// noSecret fails the test for every message on a secret/ topic.
func noSecret(t *testing.T, in *inbox) {
	t.Helper()
	for _, m := range in.all() {
		if strings.HasPrefix(m.Topic, "secret/") {
			t.Errorf("bob received %q on %q; the ACL denies him secret/#", m.Payload, m.Topic)
		}
	}
}

// deliveryDenied is the drop counter of denied deliveries; the name is
// the metric label (bridge_mqtt_drops_total{reason=...}).
func deliveryDenied(srv *mqttfront.Server) uint64 {
	return srv.Stats().Drops["delivery_not_authorized"]
}

// TestE2EACLWildcardDelivery is the exact scenario on 3.1.1 and 5:
// bob's wildcard and shared subscriptions are granted, yet neither alice's
// live secret/live nor the retained secret/plans reaches him, while other
// topics still do. A filter inside the denied one is still refused.
func TestE2EACLWildcardDelivery(t *testing.T) {
	srv, addr := startServer(t, denyBobSecret(t), nil)
	alice := connectV3(t, asUser(t, addr, "alice"))
	pubV3(t, alice, "secret/plans", 1, true, "plans")
	pubV3(t, alice, "public/news", 1, true, "news")

	for _, filter := range []string{"#", "+/+", "+/#", "$share/g/#"} {
		shared := strings.HasPrefix(filter, "$share/")
		check := func(t *testing.T, in *inbox) {
			t.Helper()
			if !shared {
				in.waitMsg(t, "public/news", "news") // retained on subscribe
			}
			pubV3(t, alice, "secret/live", 1, false, "live "+filter)
			pubV3(t, alice, "public/live", 1, false, "live "+filter)
			in.waitMsg(t, "public/live", "live "+filter)
			noSecret(t, in)
		}
		t.Run("v3 "+filter, func(t *testing.T) {
			before := deliveryDenied(srv)
			in := &inbox{}
			o := asUser(t, addr, "bob")
			o.SetDefaultPublishHandler(in.v3Handler())
			bob := connectV3(t, o)
			subV3(t, bob, filter, 1, in)
			check(t, in)
			if got := deliveryDenied(srv); got <= before {
				t.Errorf("drops %q = %d; want more than %d", "delivery_not_authorized", got, before)
			}
		})
		t.Run("v5 "+filter, func(t *testing.T) {
			bob := connectV5(t, addr, asUserV5("bob", nil))
			bob.subOK(t, filter, 1)
			check(t, bob.inbox)
		})
	}

	t.Run("filter inside the deny refused", func(t *testing.T) {
		bob3 := connectV3(t, asUser(t, addr, "bob"))
		tok := bob3.Subscribe("secret/#", 1, func(mqtt.Client, mqtt.Message) {})
		waitTok(t, tok, "subscribe")
		if got := tok.(*mqtt.SubscribeToken).Result()["secret/#"]; got != 0x80 {
			t.Errorf("v3 SUBACK 0x%02X; want 0x80", got)
		}
		bob5 := connectV5(t, addr, asUserV5("bob", nil))
		if r := bob5.sub(t, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "secret/plans", QoS: 1}}}); len(r) != 1 || r[0] != 0x87 {
			t.Errorf("v5 SUBACK %v; want [0x87]", r)
		}
	})

	t.Run("alice still receives secrets", func(t *testing.T) {
		in := &inbox{}
		a := connectV3(t, asUser(t, addr, "alice"))
		subV3(t, a, "#", 1, in)
		in.waitMsg(t, "secret/plans", "plans")
	})
}

// TestE2EACLSharedPicksAllowedMember: in a group where one member may not
// receive a message, the message goes to a member that may, so none is lost
// and bob gets no secret.
func TestE2EACLSharedPicksAllowedMember(t *testing.T) {
	_, addr := startServer(t, denyBobSecret(t), nil)
	bobIn, aliceIn := &inbox{}, &inbox{}
	bob := connectV3(t, asUser(t, addr, "bob"))
	subV3(t, bob, "$share/g/+/t", 1, bobIn)
	a := connectV3(t, asUser(t, addr, "alice"))
	subV3(t, a, "$share/g/+/t", 1, aliceIn)

	pub := connectV3(t, asUser(t, addr, "alice"))
	const n = 6
	for i := range n {
		pubV3(t, pub, "secret/t", 1, false, strconv.Itoa(i))
	}
	for i := range n {
		pubV3(t, pub, "public/t", 1, false, strconv.Itoa(i))
	}
	waitFor(t, e2eTimeout, "every public message once", func() bool {
		return len(bobIn.onTopic("public/t"))+len(aliceIn.onTopic("public/t")) == n
	})
	if got := aliceIn.onTopic("secret/t"); len(got) != n {
		t.Errorf("alice got %d of %d secret/t; want all: the group member allowed to receive takes them", len(got), n)
	}
	noSecret(t, bobIn)
	if len(bobIn.onTopic("public/t")) == 0 {
		t.Errorf("bob got no public/t; want round-robin still to include him")
	}
}

// TestE2EACLOfflineQueue: messages queued for an offline session are checked
// too, including ones queued before a reload denied them.
func TestE2EACLOfflineQueue(t *testing.T) {
	srv, addr := startServer(t, denyBobSecret(t), nil)
	alice := connectV3(t, asUser(t, addr, "alice"))

	t.Run("v3 queued while offline", func(t *testing.T) {
		in := &inbox{}
		id := clientID(t, "bob")
		o := asUser(t, addr, "bob")
		o.SetClientID(id)
		o.SetCleanSession(false)
		o.SetDefaultPublishHandler(in.v3Handler())
		bob := connectV3(t, o)
		subV3(t, bob, "#", 1, in)
		bob.Disconnect(100)
		waitFor(t, e2eTimeout, "bob offline", func() bool { return srv.Stats().SessionsOnline == 1 })
		pubV3(t, alice, "secret/q", 1, false, "queued")
		pubV3(t, alice, "public/q", 1, false, "queued")
		connectV3(t, o)
		in.waitMsg(t, "public/q", "queued")
		noSecret(t, in)
	})

	t.Run("v5 queued, then denied by a reload", func(t *testing.T) {
		// Start allowed: the message is queued for bob.
		setACL(t, srv, auth.ACLConfig{NoMatch: "allow"})
		id := clientID(t, "bob")
		cp := func() *paho.Connect {
			return &paho.Connect{ClientID: id, CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(300)}}
		}
		bob := connectV5(t, addr, asUserV5("bob", cp()))
		bob.subOK(t, "#", 1)
		bob.close()
		waitFor(t, e2eTimeout, "bob offline", func() bool { return srv.Stats().SessionsOnline == 1 })
		pubV3(t, alice, "secret/r", 1, false, "queued before reload")
		pubV3(t, alice, "public/r", 1, false, "queued before reload")
		setACL(t, srv, bobSecretACL())
		bob2 := connectV5(t, addr, asUserV5("bob", cp()))
		bob2.inbox.waitMsg(t, "public/r", "queued before reload")
		noSecret(t, bob2.inbox)
	})
}

// setACL swaps the ACL as a SIGHUP reload does (bridge/reload.go), keeping
// alice and bob.
func setACL(t *testing.T, srv *mqttfront.Server, c auth.ACLConfig) {
	t.Helper()
	st, err := auth.NewStatic(auth.Config{Users: []auth.User{
		{Username: "alice", PasswordHash: bcryptHash(t, "alice-pw")},
		{Username: "bob", PasswordHash: bcryptHash(t, "bob-pw")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	acl, err := auth.NewACL(c)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAuth(st, acl)
}

// TestE2EACLReloadClearsCache: a decision cached before a reload does not
// outlive it, in either direction.
func TestE2EACLReloadClearsCache(t *testing.T) {
	srv, addr := startServer(t, denyBobSecret(t), nil)
	alice := connectV3(t, asUser(t, addr, "alice"))
	in := &inbox{}
	bob := connectV3(t, asUser(t, addr, "bob"))
	subV3(t, bob, "#", 1, in)

	// Denied and cached.
	pubV3(t, alice, "secret/a", 1, false, "1")
	pubV3(t, alice, "public/a", 1, false, "1")
	in.waitMsg(t, "public/a", "1")
	noSecret(t, in)

	// Allowed after the reload.
	setACL(t, srv, auth.ACLConfig{NoMatch: "allow"})
	pubV3(t, alice, "secret/a", 1, false, "2")
	in.waitMsg(t, "secret/a", "2")

	// Denied again after the next reload, though "allowed" is now cached.
	setACL(t, srv, bobSecretACL())
	pubV3(t, alice, "secret/a", 1, false, "3")
	pubV3(t, alice, "public/a", 1, false, "3")
	in.waitMsg(t, "public/a", "3")
	if in.has("secret/a", "3") {
		t.Errorf("bob received secret/a after the reload denied it: a stale cached decision")
	}
}

// TestE2EACLWill: a will goes only to subscribers allowed to receive it.
func TestE2EACLWill(t *testing.T) {
	sink := newSink()
	_, addr := startServer(t, denyBobSecret(t), sink)
	in := &inbox{}
	bob := connectV3(t, asUser(t, addr, "bob"))
	subV3(t, bob, "#", 1, in)

	for _, topic := range []string{"secret/will", "public/will"} {
		dev := mqttwire.Dial(t, addr, packets.V311)
		dev.ConnectOK(clientID(t, "dev"), mqttwire.KeepAlive(30),
			mqttwire.Will(topic, "gone", 1, 0), mqttwire.Login("alice", "alice-pw"))
		dev.Close() // no DISCONNECT: the will is published
		waitFor(t, e2eTimeout, "will of "+topic+" at the sink", func() bool { return len(byTopic(sink, topic)) == 1 })
	}
	in.waitMsg(t, "public/will", "gone")
	noSecret(t, in)
}

// TestE2EACLDownlink: Publish (the bridge's downlink and the admin API) is
// checked per subscriber; a denied subscriber is skipped without failing
// the publish, so the Kafka record is not consumed again.
func TestE2EACLDownlink(t *testing.T) {
	srv, addr := startServer(t, denyBobSecret(t), nil)
	bob := connectV5(t, addr, asUserV5("bob", nil))
	bob.subOK(t, "#", 1)
	a := connectV5(t, addr, asUserV5("alice", nil))
	a.subOK(t, "secret/#", 1)

	for _, topic := range []string{"secret/cmd", "public/cmd"} {
		errc := make(chan error, 1)
		srv.Publish(&mqttfront.Message{Topic: topic, QoS: 1, Payload: []byte("dl")}, func(err error) { errc <- err })
		if err := <-errc; err != nil {
			t.Errorf("Publish(%s) done(%v); want nil: a denied subscriber is a counted drop, not a failure", topic, err)
		}
	}
	bob.inbox.waitMsg(t, "public/cmd", "dl")
	a.inbox.waitMsg(t, "secret/cmd", "dl")
	noSecret(t, bob.inbox)
}

// TestE2EACLPatterns: %u and %c in rules apply per delivery: bob's
// wildcard gets his own mailbox and device topics but not others'.
func TestE2EACLPatterns(t *testing.T) {
	srv, addr := startServer(t, func(c *mqttfront.Config) {
		denyBobSecret(t)(c)
		c.Auth.ACL = auth.ACLConfig{NoMatch: "allow", Rules: []auth.ACLRule{
			{Permission: "allow", Action: "subscribe", Topics: []string{"mail/%u/#", "dev/%c/#"}},
			{Permission: "deny", Action: "subscribe", Topics: []string{"mail/#", "dev/#"}},
		}}
	}, nil)
	alice := connectV3(t, asUser(t, addr, "alice"))
	o := asUser(t, addr, "bob")
	o.SetClientID("bob-dev")
	in := &inbox{}
	bob := connectV3(t, o)
	subV3(t, bob, "+/#", 1, in)
	tok := bob.Subscribe("mail/#", 1, func(mqtt.Client, mqtt.Message) {})
	waitTok(t, tok, "subscribe mail/#")
	if got := tok.(*mqtt.SubscribeToken).Result()["mail/#"]; got != 0x80 {
		t.Errorf("SUBACK mail/# = 0x%02X; want 0x80 (covered by the deny)", got)
	}
	subV3(t, bob, "mail/bob/#", 1, in)

	before := deliveryDenied(srv)
	for _, topic := range []string{"mail/alice/1", "dev/alice-dev/1", "mail/bob/1", "dev/bob-dev/1", "other/1"} {
		pubV3(t, alice, topic, 1, false, "x")
	}
	in.waitMsg(t, "other/1", "x")
	for _, topic := range []string{"mail/bob/1", "dev/bob-dev/1"} {
		if !in.has(topic, "x") {
			t.Errorf("bob did not receive %s; %%u/%%c allow it", topic)
		}
	}
	for _, topic := range []string{"mail/alice/1", "dev/alice-dev/1"} {
		if in.has(topic, "x") {
			t.Errorf("bob received %s; want it denied", topic)
		}
	}
	if got := deliveryDenied(srv) - before; got != 2 {
		t.Errorf("%s drops = %d; want 2", "delivery_not_authorized", got)
	}
}
