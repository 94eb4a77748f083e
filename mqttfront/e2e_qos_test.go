package mqttfront_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

func TestE2EVersions(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	for _, tc := range []struct {
		name  string
		level uint
	}{{"3.1", 3}, {"3.1.1", 4}} {
		t.Run("paho v"+tc.name, func(t *testing.T) {
			var in inbox
			o := v3Opts(t, addr)
			o.SetProtocolVersion(tc.level)
			c := connectV3(t, o)
			subV3(t, c, "ver/"+tc.name, 1, &in)
			pubV3(t, c, "ver/"+tc.name, 1, false, "hi")
			in.waitMsg(t, "ver/"+tc.name, "hi")
		})
	}
	t.Run("paho.golang v5", func(t *testing.T) {
		c := connectV5(t, addr, v5Config{})
		if c.connack.ReasonCode != 0 {
			t.Fatalf("CONNACK reason 0x%02X; want 0", c.connack.ReasonCode)
		}
		c.subOK(t, "ver/5", 1)
		c.pubOK(t, "ver/5", 1, false, "hi")
		c.inbox.waitMsg(t, "ver/5", "hi")
	})
	t.Run("unsupported level", func(t *testing.T) {
		for _, level := range []byte{2, 6} {
			rc := mqttwire.Dial(t, addr, packets.V311)
			rc.SendRaw([]byte{ // a level the codec does not speak: written by hand
				0x10, 15, // CONNECT, remaining length
				0, 4, 'M', 'Q', 'T', 'T', // protocol name
				level, 0x02, 0, 30, // protocol level, flags: clean session, keepalive 30 s
				0, 3, 'l', 'v', 'l', // client id
			})
			f, err := rc.ReadFrame(e2eTimeout)
			if err != nil || f.Type() != packets.CONNACK {
				t.Fatalf("level %d: got % X, %v; want a CONNACK", level, f, err)
			}
			// [MQTT-3.1.2-2]: 0x01 in the v3 form, 0x84 in the v5 form.
			body := f.Body()
			code := body[len(body)-1]
			if len(body) >= 2 {
				code = body[1]
			}
			if code != 0x01 && code != 0x84 {
				t.Errorf("level %d: CONNACK body % X; want return code 0x01 or 0x84", level, body)
			}
			rc.ExpectClosed(e2eTimeout)
		}
	})
}

// TestE2EQoSMatrix publishes at each QoS to a subscriber at each QoS and
// checks the delivered QoS is the minimum of the two [MQTT-3.8.4-8], with
// paho v3 and with paho.golang v5.
func TestE2EQoSMatrix(t *testing.T) {
	sink := newSink()
	_, addr := startServer(t, nil, sink)
	t.Run("v3", func(t *testing.T) {
		pub := connectV3(t, v3Opts(t, addr))
		for pq := byte(0); pq <= 2; pq++ {
			for sq := byte(0); sq <= 2; sq++ {
				topic := fmt.Sprintf("qos3/p%d/s%d", pq, sq)
				var in inbox
				sub := connectV3(t, v3Opts(t, addr))
				subV3(t, sub, topic, sq, &in)
				pubV3(t, pub, topic, pq, false, "m")
				got := in.waitN(t, 1)[0]
				if want := min(pq, sq); got.QoS != want {
					t.Errorf("%s: delivered QoS %d; want %d", topic, got.QoS, want)
				}
				waitFor(t, e2eTimeout, "sink message on "+topic, func() bool { return len(byTopic(sink, topic)) == 1 })
				if m := byTopic(sink, topic)[0]; m.QoS != pq || string(m.Payload) != "m" {
					t.Errorf("%s: sink got QoS %d payload %q; want QoS %d payload m", topic, m.QoS, m.Payload, pq)
				}
			}
		}
	})
	t.Run("v5", func(t *testing.T) {
		pub := connectV5(t, addr, v5Config{})
		for pq := byte(0); pq <= 2; pq++ {
			for sq := byte(0); sq <= 2; sq++ {
				topic := fmt.Sprintf("qos5/p%d/s%d", pq, sq)
				sub := connectV5(t, addr, v5Config{})
				sub.subOK(t, topic, sq)
				pub.pubOK(t, topic, pq, false, "m")
				got := sub.inbox.waitN(t, 1)[0]
				if want := min(pq, sq); got.QoS != want {
					t.Errorf("%s: delivered QoS %d; want %d", topic, got.QoS, want)
				}
			}
		}
	})
}

// TestE2EOrdering sends a burst at QoS 0, 1 and 2 from one publisher and
// expects it in order at the subscriber [MQTT-4.6.0-5].
func TestE2EOrdering(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	const n = 100
	for qos := byte(0); qos <= 2; qos++ {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			topic := fmt.Sprintf("order/%d", qos)
			var in inbox
			sub := connectV3(t, v3Opts(t, addr))
			subV3(t, sub, topic, qos, &in)
			pub := connectV3(t, v3Opts(t, addr))
			toks := make([]mqtt.Token, n)
			for i := range n {
				toks[i] = pub.Publish(topic, qos, false, strconv.Itoa(i))
			}
			for i, tok := range toks {
				waitTok(t, tok, fmt.Sprintf("publish %d", i))
			}
			got := in.waitN(t, n)
			for i, m := range got[:n] {
				if m.Payload != strconv.Itoa(i) {
					t.Fatalf("message %d has payload %q; want %d (order broken)", i, m.Payload, i)
				}
			}
		})
	}
}

// TestE2EQoS2ExactlyOnce checks that each QoS 2 message reaches a QoS 2
// subscriber once, with paho v3 and v5 subscribers.
func TestE2EQoS2ExactlyOnce(t *testing.T) {
	sink := newSink()
	_, addr := startServer(t, nil, sink)
	const n = 50
	var in3 inbox
	sub3 := connectV3(t, v3Opts(t, addr))
	subV3(t, sub3, "x2/#", 2, &in3)
	sub5 := connectV5(t, addr, v5Config{})
	sub5.subOK(t, "x2/#", 2)

	pub := connectV5(t, addr, v5Config{})
	for i := range n {
		pub.pubOK(t, "x2/t", 2, false, strconv.Itoa(i))
	}
	pub.pubOK(t, "x2/end", 2, false, "end")
	for name, in := range map[string]*inbox{"v3": &in3, "v5": sub5.inbox} {
		in.waitMsg(t, "x2/end", "end")
		seen := map[string]int{}
		for _, m := range in.onTopic("x2/t") {
			seen[m.Payload]++
			if m.QoS != 2 {
				t.Errorf("%s: delivered QoS %d; want 2", name, m.QoS)
			}
		}
		for i := range n {
			if c := seen[strconv.Itoa(i)]; c != 1 {
				t.Errorf("%s: message %d delivered %d times; want exactly once", name, i, c)
			}
		}
	}
	if got := len(byTopic(sink, "x2/t")); got != n {
		t.Errorf("sink got %d QoS 2 messages; want %d (each once)", got, n)
	}
}

// TestE2EReceiveMaximum: a v5 subscriber with Receive Maximum 2 that acks
// slowly never has more than 2 unacknowledged QoS 1 deliveries
// [MQTT-3.3.4-9], and still receives everything.
func TestE2EReceiveMaximum(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	const recvMax, n = 2, 20
	var (
		mu               sync.Mutex
		inflight, maxInf int
		acked            int
	)
	var sub *v5Client
	sub = connectV5(t, addr, v5Config{
		connect: &paho.Connect{CleanStart: true, Properties: &paho.ConnectProperties{ReceiveMaximum: u16(recvMax)}},
		configure: func(cc *paho.ClientConfig) {
			cc.EnableManualAcknowledgment = true
			cc.SendAcksInterval = 2 * time.Millisecond
			cc.OnPublishReceived = append(cc.OnPublishReceived, func(pr paho.PublishReceived) (bool, error) {
				mu.Lock()
				inflight++
				maxInf = max(maxInf, inflight)
				mu.Unlock()
				go func(p *paho.Publish) {
					time.Sleep(20 * time.Millisecond) // the slow consumer under test
					mu.Lock()
					inflight--
					acked++
					mu.Unlock()
					_ = sub.Ack(p)
				}(pr.Packet)
				return true, nil
			})
		},
	})
	sub.subOK(t, "rm/t", 1)
	pub := connectV5(t, addr, v5Config{})
	for i := range n {
		if _, err := pub.pub(&paho.Publish{Topic: "rm/t", QoS: 1, Payload: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, e2eTimeout, "all deliveries acked", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return acked >= n
	})
	mu.Lock()
	defer mu.Unlock()
	t.Logf("max unacked deliveries seen by the client: %d (Receive Maximum %d)", maxInf, recvMax)
	if maxInf > recvMax {
		t.Errorf("max unacked deliveries seen %d; want <= Receive Maximum %d", maxInf, recvMax)
	}
}
