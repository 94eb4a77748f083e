package mqttfront_test

import (
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

func TestAdminClientsAndClient(t *testing.T) {
	hash := bcryptHash(t, "pw")
	srv, addr := startServer(t, func(c *mqttfront.Config) {
		c.Auth.Users = []auth.User{{Username: "alice", PasswordHash: hash}}
	}, nil)
	v5 := connectV5(t, addr, v5Config{connect: &paho.Connect{ClientID: "adm-v5", CleanStart: true,
		Username: "alice", UsernameFlag: true, Password: []byte("pw"), PasswordFlag: true}})
	v5.subOK(t, "devices/+/cmd", 1)
	v5.subOK(t, "alerts/#", 0)
	o := v3Opts(t, addr)
	o.SetClientID("adm-v3")
	connectV3(t, o)

	waitFor(t, e2eTimeout, "two clients listed", func() bool { return len(srv.Clients()) == 2 })
	cs := srv.Clients()
	if cs[0].ClientID != "adm-v3" || cs[1].ClientID != "adm-v5" {
		t.Fatalf("Clients() ids = %q, %q; want adm-v3, adm-v5 (sorted)", cs[0].ClientID, cs[1].ClientID)
	}
	tests := []struct {
		ci       mqttfront.ClientInfo
		version  int
		user     string
		wantSubs int
	}{
		{cs[0], 4, "", 0},
		{cs[1], 5, "alice", 2},
	}
	for _, tt := range tests {
		ci := tt.ci
		if !ci.Online || ci.ProtocolVersion != tt.version || ci.Username != tt.user || ci.Subscriptions != tt.wantSubs ||
			ci.Listener != "tcp" || !strings.HasPrefix(ci.RemoteAddr, "127.0.0.1:") || ci.ConnectedSince.IsZero() {
			t.Errorf("Clients() entry %+v; want online, v%d, user %q, %d subscriptions, tcp from 127.0.0.1, a connect time",
				ci, tt.version, tt.user, tt.wantSubs)
		}
	}

	ci, subs, ok := srv.Client("adm-v5")
	if !ok || ci.ClientID != "adm-v5" || len(subs) != 2 || subs[0].Filter != "alerts/#" || subs[1].Filter != "devices/+/cmd" || subs[1].QoS != 1 {
		t.Errorf("Client(adm-v5) = %+v, %+v, %v; want its two subscriptions sorted by filter", ci, subs, ok)
	}
	if _, _, ok := srv.Client("nobody"); ok {
		t.Error("Client(nobody) ok = true; want false")
	}
}

func TestAdminKick(t *testing.T) {
	srv, addr := startServer(t, nil, nil)
	v5 := connectV5(t, addr, v5Config{connect: &paho.Connect{ClientID: "kick-v5", CleanStart: true}})
	o := v3Opts(t, addr)
	o.SetClientID("kick-v3")
	lost := make(chan error, 1)
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	connectV3(t, o)
	waitConns(t, srv, 2)

	if !srv.Kick("kick-v5") {
		t.Fatal("Kick(kick-v5) = false; want true")
	}
	if d := v5.waitDisconnect(t); d.ReasonCode != 0x98 {
		t.Errorf("v5 DISCONNECT reason = 0x%02X; want 0x98 (administrative action)", d.ReasonCode)
	}
	if !srv.Kick("kick-v3") {
		t.Fatal("Kick(kick-v3) = false; want true")
	}
	waitFor(t, e2eTimeout, "v3 connection lost", func() bool { return len(lost) == 1 })
	waitConns(t, srv, 0)
	if srv.Kick("kick-v3") {
		t.Error("Kick of an offline client = true; want false")
	}
	if srv.Kick("nobody") {
		t.Error("Kick(nobody) = true; want false")
	}
	if n := srv.Stats().Disconnects["admin_kick"]; n != 2 {
		t.Errorf("disconnects{admin_kick} = %d; want 2", n)
	}
}

func TestAdminSubscriptionsMatch(t *testing.T) {
	srv, addr := startServer(t, nil, nil)
	a := connectV5(t, addr, v5Config{connect: &paho.Connect{ClientID: "sub-a", CleanStart: true}})
	a.subOK(t, "devices/+/cmd", 1)
	a.subOK(t, "$share/g/jobs/#", 1)
	b := connectV5(t, addr, v5Config{connect: &paho.Connect{ClientID: "sub-b", CleanStart: true}})
	b.subOK(t, "devices/d7/cmd", 0)
	b.subOK(t, "other", 0)

	tests := []struct {
		match string
		want  []string // client/filter
	}{
		{"", []string{"sub-a/$share/g/jobs/#", "sub-a/devices/+/cmd", "sub-b/devices/d7/cmd", "sub-b/other"}},
		{"devices/d7/cmd", []string{"sub-a/devices/+/cmd", "sub-b/devices/d7/cmd"}}, // a topic its filter matches
		{"jobs/x", []string{"sub-a/$share/g/jobs/#"}},                               // shared: by inner filter
		{"oth", []string{"sub-b/other"}},                                            // substring
		{"sub-b", []string{"sub-b/devices/d7/cmd", "sub-b/other"}},                  // client id
		{"zzz", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, s := range srv.Subscriptions(tt.match) {
			got = append(got, s.ClientID+"/"+s.Filter)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("Subscriptions(%q) = %q; want %q", tt.match, got, tt.want)
		}
	}
}

func TestAdminRetainedMessages(t *testing.T) {
	srv, addr := startServer(t, nil, nil)
	c := connectV5(t, addr, v5Config{})
	c.pubOK(t, "state/d1", 1, true, "on")
	c.pubOK(t, "state/d2", 0, true, strings.Repeat("x", 100))
	if _, err := c.pub(&paho.Publish{Topic: "blob/b1", QoS: 1, Retain: true, Payload: []byte{0xff, 0x00, 0xfe}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e2eTimeout, "three retained", func() bool { return len(srv.RetainedMessages("", 0)) >= 3 })

	all := srv.RetainedMessages("", 0)
	var topics []string
	for _, r := range all {
		topics = append(topics, r.Topic)
	}
	if strings.Join(topics, ",") != "blob/b1,state/d1,state/d2" {
		t.Fatalf("RetainedMessages(\"\") topics = %q; want blob/b1, state/d1, state/d2", topics)
	}
	if b := all[0]; !b.Binary || b.PayloadSize != 3 || b.Preview != "/wD+" {
		t.Errorf("binary retained = %+v; want base64 preview /wD+ of 3 bytes", b)
	}
	if d1 := all[1]; d1.Binary || d1.Preview != "on" || d1.QoS != 1 {
		t.Errorf("state/d1 = %+v; want text preview on, QoS 1", d1)
	}
	if d2 := all[2]; d2.PayloadSize != 100 || len(d2.Preview) != 64 {
		t.Errorf("state/d2 payload %d preview %d bytes; want 100 and a 64-byte preview", d2.PayloadSize, len(d2.Preview))
	}

	tests := []struct {
		match string
		limit int
		want  int
	}{
		{"state/+", 0, 2},   // filter
		{"state/#", 1, 1},   // limit
		{"d2", 0, 1},        // substring
		{"state/+/x", 0, 0}, // no match
		{"a/#/b", 0, 0},     // invalid filter: nothing
	}
	for _, tt := range tests {
		if got := len(srv.RetainedMessages(tt.match, tt.limit)); got != tt.want {
			t.Errorf("RetainedMessages(%q, %d) returned %d; want %d", tt.match, tt.limit, got, tt.want)
		}
	}
}
