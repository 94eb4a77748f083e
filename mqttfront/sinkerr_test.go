package mqttfront

import (
	"errors"
	"fmt"
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// TestSinkErrors: each exported Sink error, wrapped by the Sink with its
// cause, selects its v5 PUBACK and PUBREC reason code (MQTT 5 §3.4.2.1).
func TestSinkErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want packets.ReasonCode
	}{
		{ErrQuotaExceeded, packets.QuotaExceeded},
		{ErrNotAuthorized, packets.NotAuthorized},
		{ErrTopicInvalid, packets.TopicNameInvalid},
		{ErrTooLarge, packets.ImplementationSpecificError}, // 0x95 is not an ack code
		{ErrUnavailable, packets.UnspecifiedError},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			ts := runServer(t, testConfig(""), &fakeSink{Fail: fmt.Errorf("kafka refused the record: %w", tc.err)})
			w := mqttwire.Dial(t, ts.addr, packets.V5)
			w.Connect("se")
			w.Send(mqttwire.Publish("t", "x", 1, 9), mqttwire.Publish("t", "y", 2, 10))
			if p := w.Expect(packets.PUBACK); p.ReasonCode != tc.want || p.PacketID != 9 {
				t.Errorf("PUBACK %d code %v; want 9 with %v", p.PacketID, p.ReasonCode, tc.want)
			}
			if p := w.Expect(packets.PUBREC); p.ReasonCode != tc.want {
				t.Errorf("PUBREC code %v; want %v", p.ReasonCode, tc.want)
			}
		})
	}
}

// TestPublishErrorsAreSinkErrors: Publish's completions match the Sink
// errors, so a caller needs no codec to tell them apart; their text is
// unchanged.
func TestPublishErrorsAreSinkErrors(t *testing.T) {
	for _, tc := range []struct {
		err, want error
	}{
		{ErrQueueFull, ErrQuotaExceeded},
		{ErrRetainedQuota, ErrQuotaExceeded},
	} {
		if !errors.Is(tc.err, tc.want) || packets.Code(tc.err) != packets.QuotaExceeded {
			t.Errorf("%v: errors.Is %v = false or code %v; want true and 0x97", tc.err, tc.want, packets.Code(tc.err))
		}
	}
	if got, want := ErrQueueFull.Error(), "session queue full: quota exceeded (0x97)"; got != want {
		t.Errorf("ErrQueueFull = %q; want %q", got, want)
	}

	ts := runServer(t, testConfig(""), &fakeSink{})
	for _, topic := range []string{"a/+/c", ""} {
		var got error
		ts.Publish(&Message{Topic: topic, Payload: []byte("x")}, func(err error) { got = err })
		if !errors.Is(got, ErrTopicInvalid) || packets.Code(got) != packets.TopicNameInvalid {
			t.Errorf("Publish(%q) = %v; want ErrTopicInvalid carrying 0x90", topic, got)
		}
		if want := packets.ValidTopicName(topic).Error(); got != nil && got.Error() != want {
			t.Errorf("Publish(%q) error text %q; want the topic check's %q", topic, got.Error(), want)
		}
	}
}
