package mqttfront_test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// willWatcher subscribes to will/# and returns the inbox.
func willWatcher(t *testing.T, addr string) *inbox {
	t.Helper()
	in := &inbox{}
	c := connectV3(t, v3Opts(t, addr))
	subV3(t, c, "will/#", 1, in)
	return in
}

func TestE2EWillOnAbruptClose(t *testing.T) {
	sink := newSink()
	_, addr := startServer(t, nil, sink)
	in := willWatcher(t, addr)
	for _, level := range []byte{4, 5} {
		rc := mqttwire.Dial(t, addr, packets.Version(level))
		topic := "will/abrupt/" + string('0'+level)
		rc.ConnectOK(clientID(t, "w"), mqttwire.Will(topic, "gone", 1, 0))
		rc.Close() // no DISCONNECT: network close
		in.waitMsg(t, topic, "gone")
		// Wills are publishes from that client, so the sink sees them too.
		waitFor(t, e2eTimeout, "will in the sink", func() bool { return len(byTopic(sink, topic)) == 1 })
	}
}

func TestE2EWillOnKeepaliveExpiry(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	in := willWatcher(t, addr)
	rc := mqttwire.Dial(t, addr, packets.V311)
	rc.ConnectOK(clientID(t, "w"), mqttwire.KeepAlive(1), mqttwire.Will("will/ka", "timeout", 0, 0))
	start := time.Now()
	in.waitMsg(t, "will/ka", "timeout") // the socket stays open, silent
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("will after %v of silence; want after about 1.5 x keepalive (1s)", d)
	}
}

func TestE2ENoWillOnNormalDisconnect(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	in := willWatcher(t, addr)

	t.Run("raw v3", func(t *testing.T) {
		rc := mqttwire.Dial(t, addr, packets.V311)
		rc.ConnectOK(clientID(t, "w"), mqttwire.Will("will/raw", "bad", 1, 0))
		rc.Send(&packets.Packet{Type: packets.DISCONNECT})
		rc.ExpectClosed(e2eTimeout) // the server has processed DISCONNECT
	})
	t.Run("paho v3", func(t *testing.T) {
		o := v3Opts(t, addr)
		o.SetWill("will/paho3", "bad", 1, false)
		c := connectV3(t, o)
		c.Disconnect(250)
	})
	t.Run("paho.golang v5 reason 0", func(t *testing.T) {
		c := connectV5(t, addr, v5Config{connect: &paho.Connect{CleanStart: true,
			WillMessage: &paho.WillMessage{Topic: "will/paho5", Payload: []byte("bad"), QoS: 1}}})
		c.close()
	})
	marker := connectV3(t, v3Opts(t, addr))
	pubV3(t, marker, "will/marker", 1, false, "end")
	in.waitMsg(t, "will/marker", "end")
	for _, m := range in.all() {
		if m.Payload == "bad" {
			t.Errorf("will %q published after a normal DISCONNECT [MQTT-3.1.2-10]", m.Topic)
		}
	}
}

func TestE2EWillOnV5DisconnectWithWill(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	in := willWatcher(t, addr)
	c := connectV5(t, addr, v5Config{connect: &paho.Connect{CleanStart: true,
		WillMessage: &paho.WillMessage{Topic: "will/x04", Payload: []byte("asked"), QoS: 1}}})
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0x04})
	in.waitMsg(t, "will/x04", "asked")
}

func TestE2EV5WillDelay(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	in := willWatcher(t, addr)
	const delay = 1 // second
	connect := func(id, topic string) *paho.Connect {
		return &paho.Connect{ClientID: id, CleanStart: false,
			Properties:     &paho.ConnectProperties{SessionExpiryInterval: u32(60)},
			WillMessage:    &paho.WillMessage{Topic: topic, Payload: []byte("late"), QoS: 1},
			WillProperties: &paho.WillProperties{WillDelayInterval: u32(delay)}}
	}

	t.Run("sent after the delay", func(t *testing.T) {
		id := clientID(t, "wd")
		c := connectV5(t, addr, v5Config{connect: connect(id, "will/delay/sent")})
		start := time.Now()
		c.kill()
		in.waitMsg(t, "will/delay/sent", "late")
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Errorf("will sent %v after the drop; want after the %ds will delay", d, delay)
		}
	})
	t.Run("cancelled by reconnect", func(t *testing.T) {
		id := clientID(t, "wd")
		c := connectV5(t, addr, v5Config{connect: connect(id, "will/delay/cancel")})
		c.kill()
		c2 := connectV5(t, addr, v5Config{connect: connect(id, "will/delay/cancel")})
		if !c2.connack.SessionPresent {
			t.Errorf("reconnect within the will delay: session present = false; want true")
		}
		// A negative timing check: wait out twice the delay, then make sure
		// the will did not go out [MQTT-3.1.3-9].
		time.Sleep(2 * delay * time.Second)
		marker := connectV3(t, v3Opts(t, addr))
		pubV3(t, marker, "will/marker", 1, false, "end")
		in.waitMsg(t, "will/marker", "end")
		if got := in.onTopic("will/delay/cancel"); len(got) != 0 {
			t.Errorf("will published although the client reconnected within the delay: %+v", got)
		}
	})
}
