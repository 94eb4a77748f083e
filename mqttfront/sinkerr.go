package mqttfront

import (
	"errors"
	"fmt"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// Errors a Sink gives to done to refuse a QoS 1/2 publish, usually wrapped
// with the cause (fmt.Errorf("kafka refused the record: %w", ErrTooLarge)).
// The front end answers a v5 publisher with the PUBACK/PUBREC reason code
// each one names (MQTT 5 §3.4.2.1 lists the codes an ack may carry); any
// other error is 0x80. A v3 publisher cannot be refused: its connection is
// closed without the ack, and it resends the message when it reconnects.
//
// Publish's completions match them too: ErrQueueFull and ErrRetainedQuota
// are ErrQuotaExceeded, and a topic Publish refuses is ErrTopicInvalid.
var (
	// ErrQuotaExceeded: 0x97 Quota exceeded.
	ErrQuotaExceeded error = &sinkError{"quota exceeded", packets.QuotaExceeded}
	// ErrNotAuthorized: 0x87 Not authorized.
	ErrNotAuthorized error = &sinkError{"not authorized", packets.NotAuthorized}
	// ErrTopicInvalid: 0x90 Topic Name invalid.
	ErrTopicInvalid error = &sinkError{"topic name invalid", packets.TopicNameInvalid}
	// ErrTooLarge: 0x83 Implementation specific error. Packet too large
	// (0x95) is not a code PUBACK or PUBREC may carry; the reason string
	// (the error's text) says what was too large.
	ErrTooLarge error = &sinkError{"message too large", packets.ImplementationSpecificError}
	// ErrUnavailable: 0x80 Unspecified error. The message is not durable
	// now and may be later: the publisher should send it again.
	ErrUnavailable error = &sinkError{"unavailable, send again later", packets.UnspecifiedError}
)

// sinkError is one of the errors above: its text and its reason code. It
// unwraps to the code, so the code of a wrapped one is packets.Code(err).
type sinkError struct {
	msg  string
	code packets.ReasonCode
}

func (e *sinkError) Error() string { return fmt.Sprintf("%s (0x%02X)", e.msg, byte(e.code)) }
func (e *sinkError) Unwrap() error { return e.code }

// ackCodeOf is the reason code of the PUBACK/PUBREC that answers a
// publish the Sink failed with err: the code err carries when an ack may
// carry it (§3.4.2.1), else 0x80 Unspecified error.
func ackCodeOf(err error) packets.ReasonCode {
	return ackCode(packets.Code(err))
}

// alsoError is an error that also matches another one (errors.Is), with
// the first one's text: Publish's topic errors keep their message and are
// ErrTopicInvalid as well.
type alsoError struct {
	err, also error
}

func (e *alsoError) Error() string   { return e.err.Error() }
func (e *alsoError) Unwrap() []error { return []error{e.err, e.also} }

// topicInvalid marks a topic error as ErrTopicInvalid.
func topicInvalid(err error) error {
	if err == nil || errors.Is(err, ErrTopicInvalid) {
		return err
	}
	return &alsoError{err, ErrTopicInvalid}
}

// ackCode maps a code to one PUBACK/PUBREC may carry (MQTT 5 §3.4.2.1);
// anything else becomes 0x80 Unspecified error.
func ackCode(c packets.ReasonCode) packets.ReasonCode {
	switch c {
	case packets.UnspecifiedError, packets.ImplementationSpecificError, packets.NotAuthorized,
		packets.TopicNameInvalid, packets.PacketIdentifierInUse, packets.QuotaExceeded, packets.PayloadFormatInvalid:
		return c
	}
	return packets.UnspecifiedError
}
