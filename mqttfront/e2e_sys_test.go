package mqttfront_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

func TestE2ESys(t *testing.T) {
	_, addr := startServer(t, func(c *mqttfront.Config) { testkit.Set(t, c, "sys_interval", 200*time.Millisecond) }, nil)
	var in inbox
	c := connectV3(t, v3Opts(t, addr))
	subV3(t, c, "$SYS/broker/#", 0, &in)
	for _, topic := range []string{"$SYS/broker/version", "$SYS/broker/uptime", "$SYS/broker/clients/connected"} {
		waitFor(t, e2eTimeout, topic, func() bool { return len(in.onTopic(topic)) > 0 })
	}
	if v := in.onTopic("$SYS/broker/version")[0].Payload; v == "" {
		t.Errorf("$SYS/broker/version is empty")
	}
	if u := in.onTopic("$SYS/broker/uptime")[0].Payload; !strings.HasSuffix(u, "seconds") {
		t.Errorf("$SYS/broker/uptime = %q; want \"N seconds\"", u)
	}
	waitFor(t, e2eTimeout, "clients/connected >= 1", func() bool {
		for _, m := range in.onTopic("$SYS/broker/clients/connected") {
			if n, err := strconv.Atoi(m.Payload); err == nil && n >= 1 {
				return true
			}
		}
		return false
	})

	t.Run("clients cannot publish to $SYS", func(t *testing.T) {
		p := connectV5(t, addr, v5Config{})
		pr, err := p.pub(&paho.Publish{Topic: "$SYS/broker/version", QoS: 1, Payload: []byte("fake")})
		_ = pr
		_ = err // v5 may answer with an error code or accept and drop
		waitFor(t, e2eTimeout, "another $SYS tick", func() bool { return len(in.onTopic("$SYS/broker/version")) >= 3 })
		if in.has("$SYS/broker/version", "fake") {
			t.Errorf("a client's publish to $SYS was routed [MQTT-4.7.2-1]")
		}
	})
}

func TestE2EKeepalive(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	for _, level := range []byte{4, 5} {
		rc := mqttwire.Dial(t, addr, packets.Version(level))
		rc.ConnectOK(clientID(t, "ka"), mqttwire.KeepAlive(1))
		start := time.Now()
		rc.ExpectClosed(8 * time.Second)
		took := time.Since(start)
		// [MQTT-3.1.2-22]: one and a half times the keepalive. The upper
		// bound leaves room for a loaded CI machine running every package.
		if took < 1200*time.Millisecond || took > 4*time.Second {
			t.Errorf("level %d: silent client closed after %v; want about 1.5s", level, took)
		}
	}
	t.Run("pinging client stays", func(t *testing.T) {
		rc := mqttwire.Dial(t, addr, packets.V311)
		rc.ConnectOK(clientID(t, "ka"), mqttwire.KeepAlive(1))
		for range 5 {
			time.Sleep(500 * time.Millisecond) // the client's own keepalive rhythm
			rc.Send(&packets.Packet{Type: packets.PINGREQ})
			rc.Expect(packets.PINGRESP)
		}
	})
}

func TestE2EGracefulShutdownV5(t *testing.T) {
	ts := startServerDir(t, t.TempDir(), nil, nil)
	c := connectV5(t, ts.addr, v5Config{})
	go ts.stop()
	if d := c.waitDisconnect(t); d.ReasonCode != 0x8B {
		t.Errorf("DISCONNECT 0x%02X on shutdown; want 0x8B server shutting down", d.ReasonCode)
	}
	ts.stop() // waits for Run to return
}
