package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// telemetryPayload is seq (8 bytes, big endian), every byte value 0..255,
// then 0..299 random bytes: binary data no text encoding survives.
func telemetryPayload(seq int) []byte {
	n, _ := rand.Int(rand.Reader, big.NewInt(300))
	p := make([]byte, 8+256+int(n.Int64()))
	binary.BigEndian.PutUint64(p, uint64(seq))
	for i := range 256 {
		p[8+i] = byte(i)
	}
	_, _ = rand.Read(p[8+256:])
	return p
}

// sent is what a client published, by key then sequence number.
type sent struct {
	mu sync.Mutex
	m  map[string]map[int]sentMsg
}

type sentMsg struct {
	topic, clientID string
	qos             byte
	retain          bool
	v5              bool
	payload         []byte
	corr            []byte
}

func (s *sent) add(key string, seq int, m sentMsg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]map[int]sentMsg{}
	}
	if s.m[key] == nil {
		s.m[key] = map[int]sentMsg{}
	}
	s.m[key][seq] = m
}

// TestTelemetry proves the uplink end to end: several MQTT 3.1.1 and 5
// clients publish binary payloads at QoS 0, 1 and 2 at once; every QoS 1/2
// publish is in Kafka exactly once with its topic, key, provenance headers,
// v5 properties and exact bytes, and the records of each key are in
// publish order. QoS 0 records are counted, and at least one must arrive.
func TestTelemetry(t *testing.T) {
	bootstrap := sharedKafka(t)
	topic, q0Topic := uniq(t, "tele"), uniq(t, "q0")
	testenv.CreateTopic(t, bootstrap, topic, 3)
	testenv.CreateTopic(t, bootstrap, q0Topic, 3)

	cfg := testConfig(t, bootstrap)
	cfg.Mapping.Uplink = []mapping.UplinkRule{
		{Name: "tele", MQTTTopic: "tele/{device}/{stream}", KafkaTopic: topic, Key: "{device}/{stream}"},
		{Name: "q0", MQTTTopic: "q0/{device}/{stream}", KafkaTopic: q0Topic, Key: "{device}"},
	}
	b := startBridge(t, cfg)

	const perStream = 60 // QoS 1/2 publishes per client and QoS
	const zeros = 50     // QoS 0 publishes per client
	start := time.Now()
	var out sent
	var wg sync.WaitGroup
	var clients []string

	for i := range 2 { // MQTT 3.1.1: pipelined publishes (many in flight)
		cid := uniq(t, fmt.Sprintf("v3-%d", i))
		clients = append(clients, cid)
		c := dialV3(t, b.addr, cid, true, nil)
		wg.Go(func() {
			for _, qos := range []byte{1, 2} {
				var tokens []mqtt.Token
				for seq := range perStream {
					mt := fmt.Sprintf("tele/%s/q%d", cid, qos)
					p := telemetryPayload(seq)
					out.add(cid+"/q"+strconv.Itoa(int(qos)), seq, sentMsg{topic: mt, clientID: cid, qos: qos, payload: p})
					tokens = append(tokens, c.Publish(mt, qos, false, p))
				}
				for _, tok := range tokens {
					if err := tokenErr(tok); err != nil {
						t.Errorf("v3 %s publish qos %d: %v", cid, qos, err)
						return
					}
				}
			}
			for seq := range zeros {
				c.Publish(fmt.Sprintf("q0/%s/zero", cid), 0, false, telemetryPayload(seq))
			}
			if err := tokenErr(c.Publish(fmt.Sprintf("q0/%s/fence", cid), 1, false, []byte("fence"))); err != nil {
				t.Errorf("v3 %s fence: %v", cid, err)
			}
		})
	}
	for i := range 2 { // MQTT 5: properties, and the two QoS streams concurrently
		cid := uniq(t, fmt.Sprintf("v5-%d", i))
		clients = append(clients, cid)
		c := dialV5(t, b.addr, &paho.Connect{ClientID: cid, CleanStart: true}, nil)
		retainEvery := 0
		if i == 1 {
			retainEvery = 10 // some publishes carry the retain flag
		}
		var streams sync.WaitGroup
		for _, qos := range []byte{1, 2} {
			streams.Go(func() {
				for seq := range perStream {
					mt := fmt.Sprintf("tele/%s/q%d", cid, qos)
					p := telemetryPayload(seq)
					corr := append([]byte{0x00, 0xff}, []byte(fmt.Sprintf("%s-%d-%d", cid, qos, seq))...)
					retain := retainEvery > 0 && seq%retainEvery == 0
					out.add(cid+"/q"+strconv.Itoa(int(qos)), seq, sentMsg{topic: mt, clientID: cid, qos: qos, retain: retain, v5: true, payload: p, corr: corr})
					pr, err := c.publish(&paho.Publish{Topic: mt, QoS: qos, Retain: retain, Payload: p, Properties: &paho.PublishProperties{
						ContentType:     "application/x-seq",
						ResponseTopic:   "reply/" + cid,
						CorrelationData: corr,
						User:            paho.UserProperties{{Key: "seq", Value: strconv.Itoa(seq)}, {Key: "dup", Value: "a"}, {Key: "dup", Value: "b"}},
					}})
					if err != nil {
						t.Errorf("v5 %s publish qos %d seq %d: %v (%+v)", cid, qos, seq, err, pr)
						return
					}
				}
			})
		}
		wg.Go(func() {
			streams.Wait()
			for seq := range zeros {
				if _, err := c.publish(&paho.Publish{Topic: fmt.Sprintf("q0/%s/zero", cid), QoS: 0, Payload: telemetryPayload(seq)}); err != nil {
					t.Errorf("v5 %s qos 0: %v", cid, err)
					return
				}
			}
			if _, err := c.publish(&paho.Publish{Topic: fmt.Sprintf("q0/%s/fence", cid), QoS: 1, Payload: []byte("fence")}); err != nil {
				t.Errorf("v5 %s fence: %v", cid, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	end := time.Now()

	want := len(clients) * 2 * perStream
	recs := testenv.Consume(t, bootstrap, topic, want, kafkaWait)
	nextSeq := map[string]int{}
	for _, r := range recs {
		key := string(r.Key)
		if len(r.Value) < 8 {
			t.Fatalf("record %s/%d@%d: value of %d bytes; want a sequence number", r.Topic, r.Partition, r.Offset, len(r.Value))
		}
		seq := int(binary.BigEndian.Uint64(r.Value))
		s, ok := out.m[key][seq]
		if !ok {
			t.Fatalf("record key %q seq %d: nothing like it was published", key, seq)
		}
		if seq != nextSeq[key] {
			t.Errorf("key %q: got seq %d at %d/%d; want %d (per-key order broken or a record lost/duplicated)", key, seq, r.Partition, r.Offset, nextSeq[key])
		}
		nextSeq[key] = seq + 1
		checkRecord(t, r, topic, s, start, end)
	}
	for key, byseq := range out.m {
		if nextSeq[key] != len(byseq) {
			t.Errorf("key %q: read %d records; want %d", key, nextSeq[key], len(byseq))
		}
	}

	// QoS 0: everything before each client's QoS 1 fence, on the fence's
	// partition (same key), is in Kafka once the fence is.
	fences := 0
	q0 := consumeUntil(t, bootstrap, q0Topic, kafkaWait, func(got []*sarama.ConsumerMessage) bool {
		fences = 0
		for _, r := range got {
			if bytes.Equal(r.Value, []byte("fence")) {
				fences++
			}
		}
		return fences == len(clients)
	})
	zeroCount := len(q0) - fences
	for _, r := range q0 {
		if v, _ := header(r, mapping.HeaderQoS); !bytes.Equal(r.Value, []byte("fence")) && v != "0" {
			t.Errorf("QoS 0 record has mqtt.qos %q; want 0", v)
		}
	}
	t.Logf("QoS 0: %d of %d records arrived", zeroCount, zeros*len(clients))
	if zeroCount < 1 {
		t.Errorf("QoS 0: no record arrived of %d; want at least one", zeros*len(clients))
	}
}

// checkRecord compares one Kafka record with what was published.
func checkRecord(t *testing.T, r *sarama.ConsumerMessage, topic string, s sentMsg, start, end time.Time) {
	t.Helper()
	at := fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)
	if r.Topic != topic {
		t.Errorf("%s: topic %q; want %q", at, r.Topic, topic)
	}
	if !bytes.Equal(r.Value, s.payload) {
		t.Errorf("%s: value differs from the published payload (%d bytes; want %d)", at, len(r.Value), len(s.payload))
	}
	wantHdr := map[string]string{
		mapping.HeaderTopic:    s.topic,
		mapping.HeaderClientID: s.clientID,
		mapping.HeaderQoS:      strconv.Itoa(int(s.qos)),
		mapping.HeaderRetain:   strconv.FormatBool(s.retain),
	}
	if s.v5 {
		wantHdr[mapping.HeaderContentType] = "application/x-seq"
		wantHdr[mapping.HeaderResponseTopic] = "reply/" + s.clientID
		wantHdr[mapping.HeaderCorrelationData] = string(s.corr)
		wantHdr["seq"] = strconv.Itoa(int(binary.BigEndian.Uint64(s.payload)))
		if got := headerValues(r, "dup"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
			t.Errorf("%s: user property headers dup = %q; want [a b] in order", at, got)
		}
	} else {
		for _, k := range []string{mapping.HeaderContentType, mapping.HeaderResponseTopic, mapping.HeaderCorrelationData, "seq"} {
			if vs := headerValues(r, k); len(vs) != 0 {
				t.Errorf("%s: v3 publish has header %s = %q; want none", at, k, vs)
			}
		}
	}
	for k, want := range wantHdr {
		if got, ok := header(r, k); !ok || got != want {
			t.Errorf("%s: header %s = %q (once: %v); want %q", at, k, got, ok, want)
		}
	}
	ms, ok := header(r, mapping.HeaderReceivedAt)
	recv, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || recv < start.UnixMilli()-1000 || recv > end.UnixMilli()+1000 {
		t.Errorf("%s: mqtt.received_at = %q; want Unix ms between %d and %d", at, ms, start.UnixMilli(), end.UnixMilli())
	}
}

// TestTelemetryJSONEnvelope proves the json format: the envelope carries the
// metadata, embeds JSON payloads, keeps UTF-8 text as a string and
// base64-encodes binary payloads so that no byte is lost.
func TestTelemetryJSONEnvelope(t *testing.T) {
	bootstrap := sharedKafka(t)
	topic := uniq(t, "json")
	testenv.CreateTopic(t, bootstrap, topic, 1)
	cfg := testConfig(t, bootstrap)
	cfg.Mapping.Uplink = []mapping.UplinkRule{
		{Name: "json", MQTTTopic: "json/{device}", KafkaTopic: topic, Key: "{device}", Format: mapping.FormatJSON},
	}
	b := startBridge(t, cfg)

	cid := uniq(t, "v5")
	c := dialV5(t, b.addr, &paho.Connect{ClientID: cid, CleanStart: true}, nil)
	binPayload := telemetryPayload(7)
	corr := []byte{0, 1, 2, 0xfe, 0xff}
	cases := []struct {
		payload  []byte
		encoding string
	}{
		{binPayload, "base64"},
		{[]byte("h\u00e9llo, w\u00f6rld"), "utf8"},
		{[]byte(`{"t":21.5,"ok":true}`), "json"},
	}
	start := time.Now()
	for _, tc := range cases {
		if _, err := c.publish(&paho.Publish{Topic: "json/d7", QoS: 1, Payload: tc.payload, Properties: &paho.PublishProperties{
			ContentType: "application/x-test", ResponseTopic: "reply/d7", CorrelationData: corr,
			User: paho.UserProperties{{Key: "site", Value: "lab"}, {Key: "tag", Value: "x"}, {Key: "tag", Value: "y"}},
		}}); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	recs := testenv.Consume(t, bootstrap, topic, len(cases), kafkaWait)
	for i, r := range recs {
		tc := cases[i]
		if string(r.Key) != "d7" {
			t.Errorf("record %d: key %q; want d7", i, r.Key)
		}
		var env struct {
			Topic           string          `json:"topic"`
			ClientID        string          `json:"client_id"`
			QoS             int             `json:"qos"`
			Retain          bool            `json:"retain"`
			ReceivedAt      int64           `json:"received_at"`
			UserProperties  map[string]any  `json:"user_properties"`
			ContentType     string          `json:"content_type"`
			ResponseTopic   string          `json:"response_topic"`
			CorrelationData string          `json:"correlation_data"`
			Payload         json.RawMessage `json:"payload"`
			PayloadEncoding string          `json:"payload_encoding"`
		}
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatalf("record %d: value is not a JSON envelope: %v\n%s", i, err, r.Value)
		}
		if env.Topic != "json/d7" || env.ClientID != cid || env.QoS != 1 || env.Retain {
			t.Errorf("record %d: topic/client_id/qos/retain = %q/%q/%d/%v; want json/d7/%s/1/false", i, env.Topic, env.ClientID, env.QoS, env.Retain, cid)
		}
		if env.ReceivedAt < start.UnixMilli()-1000 || env.ReceivedAt > time.Now().UnixMilli() {
			t.Errorf("record %d: received_at %d not around the publish (%d)", i, env.ReceivedAt, start.UnixMilli())
		}
		if env.ContentType != "application/x-test" || env.ResponseTopic != "reply/d7" {
			t.Errorf("record %d: content_type %q, response_topic %q", i, env.ContentType, env.ResponseTopic)
		}
		if got, err := base64.StdEncoding.DecodeString(env.CorrelationData); err != nil || !bytes.Equal(got, corr) {
			t.Errorf("record %d: correlation_data %q decodes to %x (%v); want %x", i, env.CorrelationData, got, err, corr)
		}
		if fmt.Sprint(env.UserProperties) != "map[site:lab tag:[x y]]" {
			t.Errorf("record %d: user_properties %v; want site=lab and tag=[x y]", i, env.UserProperties)
		}
		if env.PayloadEncoding != tc.encoding {
			t.Errorf("record %d: payload_encoding %q; want %q", i, env.PayloadEncoding, tc.encoding)
		}
		var got []byte
		switch env.PayloadEncoding {
		case "base64", "utf8":
			var s string
			if err := json.Unmarshal(env.Payload, &s); err != nil {
				t.Fatalf("record %d: payload is not a JSON string: %v", i, err)
			}
			got = []byte(s)
			if env.PayloadEncoding == "base64" {
				var err error
				if got, err = base64.StdEncoding.DecodeString(s); err != nil {
					t.Fatalf("record %d: payload is not base64: %v", i, err)
				}
			}
		case "json":
			got = env.Payload
		}
		if !bytes.Equal(got, tc.payload) {
			t.Errorf("record %d: payload decodes to %q; want %q", i, got, tc.payload)
		}
	}
}
