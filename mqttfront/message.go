package mqttfront

import (
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// Message is one application message, inbound (to the Sink) or injected
// (Publish).
type Message struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	ClientID   string     // publisher; "" for injected messages
	Username   string     // publisher's username, "" if none
	Properties Properties // MQTT 5 application properties; zero from v3 publishers
	ReceivedAt time.Time
}

// Properties are the MQTT 5 properties that travel with an application
// message from its publisher to its subscribers (MQTT 5 §3.3.2.3). The
// properties of one hop (topic alias, subscription identifiers) are not
// here: the front end sets those per connection. Zero values mean absent.
type Properties struct {
	// PayloadFormat is the Payload Format Indicator (0 bytes, 1 UTF-8
	// text); forwarded only when PayloadFormatSet.
	PayloadFormat    byte
	PayloadFormatSet bool
	// MessageExpiry is the message's lifetime in seconds from ReceivedAt,
	// when MessageExpirySet; subscribers are told what is left of it.
	MessageExpiry    uint32
	MessageExpirySet bool
	ContentType      string
	ResponseTopic    string
	CorrelationData  []byte
	// User holds the user properties; names may repeat and order is kept.
	User []UserProperty
}

// UserProperty is one MQTT 5 user property (name, value). It is the
// codec's pair under the front end's name, so that a message's user
// properties go from the PUBLISH to the Sink and to every delivery
// without a copy; users of this package never name the codec.
type UserProperty = packets.UserProperty

// propsFrom keeps the application properties of a PUBLISH (or of a will,
// or of a stored message).
func propsFrom(p *packets.Properties) Properties {
	return Properties{
		PayloadFormat:    p.PayloadFormat,
		PayloadFormatSet: p.PayloadFormatSet,
		MessageExpiry:    p.MessageExpiry,
		MessageExpirySet: p.MessageExpirySet,
		ContentType:      p.ContentType,
		ResponseTopic:    p.ResponseTopic,
		CorrelationData:  p.CorrelationData,
		User:             p.User,
	}
}

// wire returns the properties as PUBLISH (or store) properties.
func (p *Properties) wire() packets.Properties {
	return packets.Properties{
		PayloadFormat:    p.PayloadFormat,
		PayloadFormatSet: p.PayloadFormatSet,
		MessageExpiry:    p.MessageExpiry,
		MessageExpirySet: p.MessageExpirySet,
		ContentType:      p.ContentType,
		ResponseTopic:    p.ResponseTopic,
		CorrelationData:  p.CorrelationData,
		User:             p.User,
	}
}

// expiresAt is the v5 message expiry deadline, zero when none.
func (m *Message) expiresAt() time.Time {
	if !m.Properties.MessageExpirySet {
		return time.Time{}
	}
	at := m.ReceivedAt
	if at.IsZero() {
		at = time.Now()
	}
	return at.Add(time.Duration(m.Properties.MessageExpiry) * time.Second)
}
