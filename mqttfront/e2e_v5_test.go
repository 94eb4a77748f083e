package mqttfront_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

func TestE2EV5TopicAliasFromClient(t *testing.T) {
	sink := newSink()
	_, addr := startServer(t, nil, sink)
	sub := connectV5(t, addr, v5Config{})
	sub.subOK(t, "ta/#", 1)
	pub := connectV5(t, addr, v5Config{})
	if p := pub.connack.Properties; p == nil || p.TopicAliasMaximum == nil || *p.TopicAliasMaximum == 0 {
		t.Fatalf("CONNACK advertises no Topic Alias Maximum; want > 0")
	}
	// First publish sets alias 1 for ta/x; the second uses the alias only.
	if _, err := pub.pub(&paho.Publish{Topic: "ta/x", QoS: 1, Payload: []byte("one"),
		Properties: &paho.PublishProperties{TopicAlias: u16(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.pub(&paho.Publish{Topic: "", QoS: 1, Payload: []byte("two"),
		Properties: &paho.PublishProperties{TopicAlias: u16(1)}}); err != nil {
		t.Fatal(err)
	}
	sub.inbox.waitMsg(t, "ta/x", "one")
	sub.inbox.waitMsg(t, "ta/x", "two")
	if got := byTopic(sink, "ta/x"); len(got) != 2 {
		t.Errorf("sink has %d messages on ta/x; want 2 (alias resolved)", len(got))
	}
	for _, m := range sink.Messages() {
		if m.Topic == "" {
			t.Errorf("sink got a message with an empty topic (alias not resolved)")
		}
	}
}

func TestE2EV5PropertiesPassThrough(t *testing.T) {
	sink := newSink()
	_, addr := startServer(t, nil, sink)
	sub := connectV5(t, addr, v5Config{})
	sub.subOK(t, "props/t", 1)
	pub := connectV5(t, addr, v5Config{})
	props := &paho.PublishProperties{
		ContentType:     "application/json",
		ResponseTopic:   "props/reply",
		CorrelationData: []byte{1, 2, 3},
		PayloadFormat:   paho.Byte(1),
		MessageExpiry:   u32(60),
		User:            paho.UserProperties{{Key: "k", Value: "v"}, {Key: "k", Value: "v2"}, {Key: "a", Value: "b"}},
	}
	if _, err := pub.pub(&paho.Publish{Topic: "props/t", QoS: 1, Payload: []byte(`{"x":1}`), Properties: props}); err != nil {
		t.Fatal(err)
	}
	got := sub.inbox.waitN(t, 1)[0].Props
	if got == nil {
		t.Fatal("v5 delivery without properties")
	}
	if got.ContentType != props.ContentType || got.ResponseTopic != props.ResponseTopic || !bytes.Equal(got.CorrelationData, props.CorrelationData) {
		t.Errorf("delivery properties content-type %q response %q correlation %v; want %q %q %v",
			got.ContentType, got.ResponseTopic, got.CorrelationData, props.ContentType, props.ResponseTopic, props.CorrelationData)
	}
	if got.PayloadFormat == nil || *got.PayloadFormat != 1 {
		t.Errorf("payload format indicator not forwarded [MQTT-3.3.2-4]")
	}
	if got.MessageExpiry == nil || *got.MessageExpiry > 60 || *got.MessageExpiry < 55 {
		t.Errorf("message expiry %v; want the remaining time, <= 60 [MQTT-3.3.2-6]", got.MessageExpiry)
	}
	if len(got.User) != 3 || got.User[0] != props.User[0] || got.User[1] != props.User[1] || got.User[2] != props.User[2] {
		t.Errorf("user properties %v; want %v in order [MQTT-3.3.2-17]", got.User, props.User)
	}

	waitFor(t, e2eTimeout, "sink message", func() bool { return len(byTopic(sink, "props/t")) == 1 })
	m := byTopic(sink, "props/t")[0]
	p := m.Properties
	if p.ContentType != props.ContentType || p.ResponseTopic != props.ResponseTopic || !bytes.Equal(p.CorrelationData, props.CorrelationData) || p.PayloadFormat != 1 || p.MessageExpiry != 60 {
		t.Errorf("sink properties %+v; want content type, response topic, correlation data, format 1, expiry 60", p)
	}
	if len(p.User) != 3 || p.User[0].Key != "k" || p.User[0].Value != "v" || p.User[1].Value != "v2" || p.User[2].Key != "a" {
		t.Errorf("sink user properties %v; want k=v k=v2 a=b", p.User)
	}
}

func TestE2EV5PayloadFormatInvalid(t *testing.T) {
	sink := newSink()
	_, addr := startServer(t, nil, sink)
	pub := connectV5(t, addr, v5Config{})
	pr, err := pub.pub(&paho.Publish{Topic: "pfi/t", QoS: 1, Payload: []byte{0xff, 0xfe, 0x41},
		Properties: &paho.PublishProperties{PayloadFormat: paho.Byte(1)}})
	if err == nil || pr == nil || pr.ReasonCode != 0x99 {
		t.Fatalf("PUBACK %+v err %v; want reason 0x99 payload format invalid [MQTT-3.3.2-4]", pr, err)
	}
	// The connection stays usable and the sink never saw the bad message.
	pub.pubOK(t, "pfi/ok", 1, false, "fine")
	if got := byTopic(sink, "pfi/t"); len(got) != 0 {
		t.Errorf("sink received an invalid UTF-8 payload with format indicator 1")
	}
}

func TestE2EV5MessageExpiry(t *testing.T) {
	_, addr := startServer(t, nil, nil)
	id := clientID(t, "exp")
	c := connectV5(t, addr, persistentV5(id))
	c.subOK(t, "exp/t", 1)
	c.close()

	pub := connectV5(t, addr, v5Config{})
	if _, err := pub.pub(&paho.Publish{Topic: "exp/t", QoS: 1, Payload: []byte("short"),
		Properties: &paho.PublishProperties{MessageExpiry: u32(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.pub(&paho.Publish{Topic: "exp/t", QoS: 1, Payload: []byte("long"),
		Properties: &paho.PublishProperties{MessageExpiry: u32(600)}}); err != nil {
		t.Fatal(err)
	}
	pub.pubOK(t, "exp/t", 1, false, "forever")
	// Let the 1s expiry run out while the session is offline.
	time.Sleep(1500 * time.Millisecond)
	c2 := connectV5(t, addr, persistentV5(id))
	pub.pubOK(t, "exp/t", 1, false, "marker")
	c2.inbox.waitMsg(t, "exp/t", "marker")
	if c2.inbox.has("exp/t", "short") {
		t.Errorf("expired message delivered after reconnect [MQTT-3.3.2-5]")
	}
	if !c2.inbox.has("exp/t", "long") || !c2.inbox.has("exp/t", "forever") {
		t.Errorf("unexpired queued messages missing: %+v", c2.inbox.all())
	}
	for _, m := range c2.inbox.onTopic("exp/t") {
		if m.Payload == "long" && (m.Props == nil || m.Props.MessageExpiry == nil || *m.Props.MessageExpiry >= 600) {
			t.Errorf("queued message expiry not rewritten to the remaining time: %+v [MQTT-3.3.2-6]", m.Props)
		}
	}
}
