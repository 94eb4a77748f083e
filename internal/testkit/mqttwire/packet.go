package mqttwire

import (
	"fmt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// ConnOpt changes the CONNECT that ConnectPacket builds.
type ConnOpt func(*packets.Packet)

// ConnectPacket is the CONNECT of a client of version v with client id id:
// clean start, keepalive 60 s, protocol name "MQIsdp" for 3.1 and "MQTT"
// otherwise, then opts in order.
func ConnectPacket(v packets.Version, id string, opts ...ConnOpt) *packets.Packet {
	p := &packets.Packet{Type: packets.CONNECT, Connect: packets.Connect{
		ProtocolName: "MQTT", ProtocolVersion: v, CleanStart: true, KeepAlive: 60, ClientID: id}}
	if v == packets.V31 {
		p.Connect.ProtocolName = "MQIsdp"
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Persistent asks for the session to be kept: clean start off and, in v5,
// a Session Expiry Interval of expiry seconds.
func Persistent(expiry uint32) ConnOpt {
	return func(p *packets.Packet) {
		p.Connect.CleanStart = false
		if p.Connect.ProtocolVersion == packets.V5 {
			p.Properties.SessionExpiry, p.Properties.SessionExpirySet = expiry, true
		}
	}
}

// Will sets a will message at qos, published delay seconds after the
// connection is lost (the delay is v5 only).
func Will(topic, payload string, qos byte, delay uint32) ConnOpt {
	return func(p *packets.Packet) {
		c := &p.Connect
		c.WillFlag, c.WillTopic, c.WillPayload, c.WillQoS = true, topic, []byte(payload), qos
		c.WillProperties.WillDelay = delay
	}
}

// KeepAlive sets the keepalive, in seconds (0: none).
func KeepAlive(seconds uint16) ConnOpt {
	return func(p *packets.Packet) { p.Connect.KeepAlive = seconds }
}

// Login sets a user name and password.
func Login(user, password string) ConnOpt {
	return func(p *packets.Packet) {
		c := &p.Connect
		c.UsernameFlag, c.Username = true, user
		c.PasswordFlag, c.Password = true, []byte(password)
	}
}

// Publish is a PUBLISH of payload on topic at qos with packet id id (0 for
// QoS 0).
func Publish(topic, payload string, qos byte, id uint16) *packets.Packet {
	return &packets.Packet{Type: packets.PUBLISH, Topic: topic, Payload: []byte(payload), QoS: qos, PacketID: id}
}

// Encode frames ps with the codec in version v, for a test that writes
// them itself (a WebSocket message, a connection of its own). An error is
// a bug in the test's own packet, so it panics; Encode may be called from
// any goroutine.
func Encode(v packets.Version, ps ...*packets.Packet) []byte {
	var b []byte
	for _, p := range ps {
		var err error
		if b, err = packets.Encode(b, p, v); err != nil {
			panic(fmt.Sprintf("encode %v: %v", p.Type, err))
		}
	}
	return b
}
