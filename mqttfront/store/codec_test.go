package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

var (
	t0 = time.Unix(1700000000, 123456789)
	t1 = time.Unix(1700000100, 0)
	t2 = time.Unix(-5, 7) // before the epoch: exercises the signed varint
)

// fullMessage sets every persisted field to a non-zero value.
func fullMessage() *Message {
	return &Message{
		Topic:   "devices/42/telemetry",
		Payload: []byte{0, 1, 2, 0xff, 'x'},
		QoS:     2,
		Retain:  true,
		Props: packets.Properties{
			PayloadFormat:    1,
			PayloadFormatSet: true,
			MessageExpiry:    3600,
			MessageExpirySet: true,
			ContentType:      "application/cbor",
			ResponseTopic:    "devices/42/reply",
			CorrelationData:  []byte("corr-\x00-id"),
			User: []packets.UserProperty{
				{Key: "a", Value: "1"},
				{Key: "a", Value: "2"}, // duplicates and order survive [MQTT-3.3.2-18]
				{Key: "", Value: ""},
			},
			SubscriptionIDs: []uint32{1, 268435455},
		},
		ExpiresAt: t1,
		StoredAt:  t0,
		PacketID:  65535,
		State:     StateReleased,
	}
}

func fullSession() *Session {
	return &Session{
		ClientID:       "client-ß-1",
		Version:        5,
		Username:       "alice",
		ExpiryInterval: 0xFFFFFFFF,
		DisconnectedAt: t2,
		Subscriptions: []Subscription{
			{Filter: "a/+/c", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, ID: 7},
			{Filter: "#", QoS: 0},
			{Filter: "$share/g/x", QoS: 2, RetainHandling: 1, ID: 268435455},
		},
		InboundQoS2: []uint16{1, 300, 65535},
		Will:        fullMessage(),
		WillAt:      t1,
	}
}

func TestMessageRoundTrip(t *testing.T) {
	zeroSet := &Message{Topic: "t", Props: packets.Properties{PayloadFormatSet: true, MessageExpirySet: true}}
	epoch := &Message{Topic: "t", StoredAt: time.Unix(0, 0)} // non-zero time whose UnixNano is 0
	tests := []struct {
		name string
		m    *Message
	}{
		{"zero", &Message{}},
		{"full", fullMessage()},
		{"set flags with zero values", zeroSet},
		{"epoch time", epoch},
		{"times beyond UnixNano", &Message{Topic: "t", ExpiresAt: time.Unix(1<<40, 999_999_999), StoredAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.Local)}},
		{"big payload", &Message{Topic: "big", Payload: bytes.Repeat([]byte{7}, 1<<20), QoS: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendMessage(nil, tt.m)
			got, err := decodeMessage(b)
			if err != nil {
				t.Fatalf("decodeMessage(%x) error: %v", b[:min(len(b), 64)], err)
			}
			if !reflect.DeepEqual(got, tt.m) {
				t.Errorf("decodeMessage(appendMessage(m)) = %+v; want %+v", got, tt.m)
			}
		})
	}
}

func TestSessionRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		s    *Session
	}{
		{"zero", &Session{}},
		{"minimal v3", &Session{ClientID: "c", Version: 4}},
		{"full", fullSession()},
		{"will without times", &Session{ClientID: "w", Will: &Message{Topic: "last/will"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendSession(nil, tt.s)
			got, err := decodeSession(b)
			if err != nil {
				t.Fatalf("decodeSession(%x) error: %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.s) {
				t.Errorf("decodeSession(appendSession(s)) = %+v; want %+v", got, tt.s)
			}
		})
	}
}

// Every strict prefix of a valid record is truncated and must be refused.
func TestDecodeRejectsTruncated(t *testing.T) {
	msg := appendMessage(nil, fullMessage())
	for n := range len(msg) {
		if _, err := decodeMessage(msg[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeMessage(first %d of %d bytes) error = %v; want ErrCorrupt", n, len(msg), err)
		}
	}
	sess := appendSession(nil, fullSession())
	for n := range len(sess) {
		if _, err := decodeSession(sess[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeSession(first %d of %d bytes) error = %v; want ErrCorrupt", n, len(sess), err)
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	valid := appendMessage(nil, &Message{Topic: "t"})
	with := func(i int, v byte) []byte {
		b := bytes.Clone(valid)
		b[i] = v
		return b
	}
	messages := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown format", with(0, 9)},
		{"unknown flag", with(1, 0x80)},
		{"qos 3", with(2, 3)},
		{"state 3", with(3, 3)},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"packet id over 16 bits", []byte{1, 0, 0, 0, 0x80, 0x80, 0x04}},
		{"overlong varint", []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"topic longer than record", []byte{1, 0, 0, 0, 0, 100, 'a'}},
		{"nanoseconds out of range", append(bytes.Clone(with(1, msgStoredAt)), 0, 0x80, 0x94, 0xeb, 0xdc, 0x03)},
		{"huge user property count", []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x07}},
	}
	for _, tt := range messages {
		t.Run("message/"+tt.name, func(t *testing.T) {
			if m, err := decodeMessage(tt.b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeMessage(%x) = %+v, %v; want ErrCorrupt", tt.b, m, err)
			}
		})
	}
	sv := appendSession(nil, &Session{ClientID: "c", Subscriptions: []Subscription{{Filter: "f"}}})
	swith := func(i int, v byte) []byte {
		b := bytes.Clone(sv)
		b[i] = v
		return b
	}
	// sv: format flags version len 'c' len(username) expiry nsubs len 'f' qos sf rh id nqos2
	sessions := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown format", swith(0, 2)},
		{"unknown flag", swith(1, 0x40)},
		{"subscription qos 3", swith(10, 3)},
		{"subscription flag", swith(11, 4)},
		{"retain handling 3", swith(12, 3)},
		{"trailing byte", append(bytes.Clone(sv), 1)},
		{"will flag without will", swith(1, sessWill)},
		{"will with trailing garbage", func() []byte {
			b := appendSession(nil, &Session{ClientID: "c", Will: &Message{Topic: "w"}})
			// The will's length prefix is right after nsubs and nqos2.
			i := bytes.Index(b, []byte{1, 0, 0, 0, 0, 1, 'w'})
			b[i-1]++ // claim one more byte than the will has
			return append(b, 0)
		}()},
	}
	for _, tt := range sessions {
		t.Run("session/"+tt.name, func(t *testing.T) {
			if s, err := decodeSession(tt.b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeSession(%x) = %+v, %v; want ErrCorrupt", tt.b, s, err)
			}
		})
	}
}

// The decoded message must not alias the input: bbolt values are only valid
// inside their transaction.
func TestDecodeCopies(t *testing.T) {
	b := appendMessage(nil, fullMessage())
	m, err := decodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xAA
	}
	if !reflect.DeepEqual(m, fullMessage()) {
		t.Errorf("decoded message changed when its input was overwritten: %+v", m)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add(appendMessage(nil, m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeMessage error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := decodeMessage(appendMessage(nil, m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoded message does not round trip: %+v, %v; want %+v", again, err, m)
		}
	})
}

func FuzzDecodeSession(f *testing.F) {
	for _, s := range seedSessions() {
		f.Add(appendSession(nil, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSession(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeSession error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := decodeSession(appendSession(nil, s))
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("re-encoded session does not round trip: %+v, %v; want %+v", again, err, s)
		}
	})
}

func seedMessages() []*Message {
	return []*Message{{}, {Topic: "a/b", Payload: []byte("hi"), QoS: 1, PacketID: 9, State: StatePublished}, fullMessage()}
}

func seedSessions() []*Session {
	return []*Session{{}, {ClientID: "c", Version: 4, Subscriptions: []Subscription{{Filter: "a/#", QoS: 1}}}, fullSession()}
}

// TestWriteSeedCorpus rewrites testdata/fuzz from the seeds above when
// STORE_WRITE_SEEDS=1 (run it after a format change).
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("STORE_WRITE_SEEDS") != "1" {
		return // a generator, not a check: STORE_WRITE_SEEDS=1 runs it
	}
	write := func(fuzz string, i int, b []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range seedMessages() {
		write("FuzzDecodeMessage", i, appendMessage(nil, m))
	}
	for i, s := range seedSessions() {
		write("FuzzDecodeSession", i, appendSession(nil, s))
	}
	// A truncated record and an unknown format, so the corpus also
	// exercises the error paths.
	full := appendMessage(nil, fullMessage())
	write("FuzzDecodeMessage", 3, full[:len(full)/2])
	write("FuzzDecodeSession", 3, []byte{7, 0, 0})
}
