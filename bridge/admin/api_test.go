package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
	"github.com/iotbridge/mqtt-kafka-bridge/bridge/admin"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

// apiBridge runs a bridge (Kafka unreachable) with the admin listener on
// loopback and returns it with the API's base URL (testkit.APIBridge).
func apiBridge(t *testing.T, mutate func(*bridge.Config)) (*bridge.Bridge, string) {
	t.Helper()
	return testkit.APIBridge(t, bridge.DefaultConfig(), mutate, func(c bridge.Config) (*bridge.Bridge, error) {
		return bridge.New(c, bridge.Options{Logger: zaptest.NewLogger(t), Version: "test-1.2.3"})
	})
}

// call does one request and decodes the JSON answer into out (when not nil).
func call(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	return testkit.Call(t, method, url, body, out, nil)
}

type clientPage struct {
	Total int `json:"total"`
	Items []struct {
		ClientID        string `json:"client_id"`
		ProtocolVersion int    `json:"protocol_version"`
		Online          bool   `json:"online"`
		Subscriptions   int    `json:"subscriptions"`
	} `json:"items"`
}

func TestAPIClientsKickAndPublish(t *testing.T) {
	// The publish API is off by default and retain needs its own opt-in.
	b, base := apiBridge(t, func(c *bridge.Config) { c.Admin.PublishAllow, c.Admin.PublishRetain = []string{"devices/#"}, true })
	sub := testkit.ConnectV3(t, b.Front().Addr("tcp").String(), "dev1")
	got := make(chan mqtt.Message, 4)
	if tok := sub.Subscribe("devices/dev1/commands", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	nc, err := net.Dial("tcp", b.Front().Addr("tcp").String())
	if err != nil {
		t.Fatal(err)
	}
	disc := make(chan *paho.Disconnect, 1)
	v5 := paho.NewClient(paho.ClientConfig{Conn: nc, OnServerDisconnect: func(d *paho.Disconnect) { disc <- d }})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := v5.Connect(ctx, &paho.Connect{ClientID: "dev2-v5", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("v5 connect: %v", err)
	}

	// Listing, search and paging.
	var page clientPage
	if code := call(t, "GET", base+"/api/v1/clients", nil, &page); code != 200 || page.Total != 2 {
		t.Fatalf("GET clients = %d, total %d; want 200 and 2 clients", code, page.Total)
	}
	if page.Items[0].ClientID != "dev1" || page.Items[0].ProtocolVersion != 4 || page.Items[0].Subscriptions != 1 ||
		page.Items[1].ClientID != "dev2-v5" || page.Items[1].ProtocolVersion != 5 || !page.Items[1].Online {
		t.Errorf("GET clients items = %+v; want dev1 (v4, 1 subscription) and dev2-v5 (v5, online)", page.Items)
	}
	if call(t, "GET", base+"/api/v1/clients?match=v5", nil, &page); page.Total != 1 || page.Items[0].ClientID != "dev2-v5" {
		t.Errorf("GET clients?match=v5 = %+v; want only dev2-v5", page)
	}
	if call(t, "GET", base+"/api/v1/clients?page=2&page_size=1", nil, &page); page.Total != 2 || len(page.Items) != 1 || page.Items[0].ClientID != "dev2-v5" {
		t.Errorf("GET clients page 2 of size 1 = %+v; want dev2-v5", page)
	}
	var one struct {
		ClientID         string    `json:"client_id"`
		RemoteAddr       string    `json:"remote_addr"`
		ConnectedSince   time.Time `json:"connected_since"`
		SubscriptionList []struct {
			Filter string `json:"filter"`
			QoS    int    `json:"qos"`
		} `json:"subscription_list"`
	}
	if code := call(t, "GET", base+"/api/v1/clients/dev1", nil, &one); code != 200 || one.RemoteAddr == "" || one.ConnectedSince.IsZero() ||
		len(one.SubscriptionList) != 1 || one.SubscriptionList[0].Filter != "devices/dev1/commands" {
		t.Errorf("GET clients/dev1 = %d %+v; want its address, connect time and one subscription", code, one)
	}
	var e struct{ Error string }
	if code := call(t, "GET", base+"/api/v1/clients/nobody", nil, &e); code != 404 || e.Error == "" {
		t.Errorf("GET clients/nobody = %d %+v; want 404 with a JSON error", code, e)
	}

	// Subscriptions by topic.
	var subs struct {
		Total int `json:"total"`
	}
	if call(t, "GET", base+"/api/v1/subscriptions?match=devices/dev1/commands", nil, &subs); subs.Total != 1 {
		t.Errorf("GET subscriptions?match=devices/dev1/commands total = %d; want 1", subs.Total)
	}

	// Kick: the v5 client sees DISCONNECT 0x98.
	if code := call(t, "DELETE", base+"/api/v1/clients/dev2-v5", nil, nil); code != 200 {
		t.Fatalf("DELETE clients/dev2-v5 = %d; want 200", code)
	}
	select {
	case d := <-disc:
		if d.ReasonCode != 0x98 {
			t.Errorf("DISCONNECT reason = 0x%02X; want 0x98", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("v5 client got no DISCONNECT after the kick")
	}
	<-v5.Done()
	if code := call(t, "DELETE", base+"/api/v1/clients/dev2-v5", nil, nil); code != 404 {
		t.Errorf("second DELETE = %d; want 404 (not connected)", code)
	}

	// Publish to a subscribed client: text, then base64 with retain.
	tests := []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"topic": "devices/dev1/commands", "payload": "reboot", "qos": 1}, "reboot"},
		{map[string]any{"topic": "devices/dev1/commands", "payload_base64": "AAEC", "qos": 0, "retain": true}, "\x00\x01\x02"},
	}
	for _, tt := range tests {
		if code := call(t, "POST", base+"/api/v1/publish", tt.body, nil); code != 200 {
			t.Fatalf("POST publish %v = %d; want 200", tt.body, code)
		}
		select {
		case m := <-got:
			if string(m.Payload()) != tt.want || m.Topic() != "devices/dev1/commands" {
				t.Errorf("subscriber got %q on %s; want %q", m.Payload(), m.Topic(), tt.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("subscriber got nothing after POST publish %v", tt.body)
		}
	}
	var ret struct {
		Total int `json:"total"`
		Items []struct {
			Topic       string `json:"topic"`
			PayloadSize int    `json:"payload_size"`
		} `json:"items"`
	}
	if call(t, "GET", base+"/api/v1/retained?match=devices/%2B/commands", nil, &ret); ret.Total != 1 || ret.Items[0].PayloadSize != 3 {
		t.Errorf("GET retained?match=devices/+/commands = %+v; want the 3-byte retained message", ret)
	}
}

func TestAPIBadInputs(t *testing.T) {
	_, base := apiBridge(t, func(c *bridge.Config) { c.Admin.PublishAllow = []string{"devices/#"} })
	big := strings.Repeat("x", 64<<10+1)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		want   string
	}{
		{"wildcard topic", "POST", "/api/v1/publish", map[string]any{"topic": "devices/+/commands", "payload": "x"}, 400, "topic"},
		{"hash topic", "POST", "/api/v1/publish", map[string]any{"topic": "devices/#", "payload": "x"}, 400, "topic"},
		{"empty topic", "POST", "/api/v1/publish", map[string]any{"topic": "", "payload": "x"}, 400, "topic"},
		{"oversize payload", "POST", "/api/v1/publish", map[string]any{"topic": "devices/d/c", "payload": big}, 400, "max_packet_size"},
		{"bad base64", "POST", "/api/v1/publish", map[string]any{"topic": "devices/d/c", "payload_base64": "not base64!"}, 400, "payload_base64"},
		{"both payloads", "POST", "/api/v1/publish", map[string]any{"topic": "devices/d/c", "payload": "a", "payload_base64": "YQ=="}, 400, "not both"},
		{"bad qos", "POST", "/api/v1/publish", map[string]any{"topic": "devices/d/c", "qos": 3}, 400, "qos"},
		{"unknown field", "POST", "/api/v1/publish", map[string]any{"topic": "devices/d/c", "qso": 1}, 400, "unknown field"},
		{"not allowed", "POST", "/api/v1/publish", map[string]any{"topic": "other/x", "payload": "x"}, 403, "publish_allow"},
		{"sys topic", "POST", "/api/v1/publish", map[string]any{"topic": "$SYS/broker/x", "payload": "x"}, 403, "$-topics"},
		{"bad user property", "POST", "/api/v1/publish", map[string]any{"topic": "devices/d/c", "user_properties": []map[string]string{{"key": ""}}}, 400, "user_properties"},
		{"page size too big", "GET", "/api/v1/clients?page_size=501", nil, 400, "page_size"},
		{"page zero", "GET", "/api/v1/subscriptions?page=0", nil, 400, "page"},
		{"explain wildcard", "POST", "/api/v1/explain", map[string]any{"topic": "a/#"}, 400, "topic"},
		{"unknown endpoint", "GET", "/api/v1/nope", nil, 404, "no endpoint"},
		{"wrong method", "PUT", "/api/v1/publish", nil, 404, "no endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e struct {
				Error string `json:"error"`
			}
			code := call(t, tt.method, base+tt.path, tt.body, &e)
			if code != tt.status || !strings.Contains(e.Error, tt.want) {
				t.Errorf("%s %s = %d %q; want %d with an error mentioning %q", tt.method, tt.path, code, e.Error, tt.status, tt.want)
			}
		})
	}
}

func TestAPIRoutesExplainOverview(t *testing.T) {
	t.Cleanup(admin.SetHistoryInterval(20 * time.Millisecond))
	b, base := apiBridge(t, nil)
	c := testkit.ConnectV3(t, b.Front().Addr("tcp").String(), "dev9")
	c.Publish("devices/dev9/telemetry", 0, false, "t=1").WaitTimeout(5 * time.Second)
	c.Publish("nowhere/x", 0, false, "t=1").WaitTimeout(5 * time.Second)

	var routes struct {
		Routes []struct {
			Name       string   `json:"name"`
			Direction  string   `json:"direction"`
			MQTTTopic  string   `json:"mqtt_topic"`
			KafkaTopic []string `json:"kafka_topics"`
			Matched    uint64   `json:"matched"`
		} `json:"routes"`
		Unmatched uint64 `json:"uplink_unmatched"`
	}
	testkit.WaitFor(t, 5*time.Second, "the routes' counts", func() bool {
		call(t, "GET", base+"/api/v1/routes", nil, &routes)
		return len(routes.Routes) == 1 && routes.Routes[0].Matched == 1 && routes.Unmatched == 1
	})
	if r := routes.Routes[0]; r.Name != "telemetry" || r.Direction != "uplink" || r.MQTTTopic != "devices/{device}/telemetry" || len(r.KafkaTopic) != 1 {
		t.Errorf("routes[0] = %+v; want the telemetry uplink rule", r)
	}

	var ex struct {
		Outcome    string `json:"outcome"`
		Rule       string `json:"rule"`
		KafkaTopic string `json:"kafka_topic"`
		Key        string `json:"key"`
		Partition  *int32 `json:"partition"`
		Partitions int32  `json:"partitions"`
		Headers    []struct{ Key, Value string }
	}
	if code := call(t, "POST", base+"/api/v1/explain", map[string]any{"topic": "devices/d42/telemetry", "client_id": "d42", "partitions": 12}, &ex); code != 200 ||
		ex.Rule != "telemetry" || ex.KafkaTopic != "iot.telemetry" || ex.Key != "d42" || ex.Partition == nil || *ex.Partition < 0 || *ex.Partition >= 12 || ex.Partitions != 12 {
		t.Errorf("POST explain = %d %+v; want rule telemetry, iot.telemetry, key d42, a partition of 12", code, ex)
	}
	var un struct {
		Outcome string  `json:"outcome"`
		Key     *string `json:"key"`
	}
	if call(t, "POST", base+"/api/v1/explain", map[string]any{"topic": "nowhere/x"}, &un); un.Outcome != "unmatched" || un.Key != nil {
		t.Errorf("POST explain nowhere/x = %+v; want unmatched, no key", un)
	}
	var dl struct {
		Routed bool `json:"routed"`
	}
	if code := call(t, "POST", base+"/api/v1/explain", map[string]any{"downlink": "iot.commands", "key": "d1"}, &dl); code != 200 || dl.Routed {
		t.Errorf("POST explain downlink = %d %+v; want 200, not routed (no downlink rules)", code, dl)
	}

	var ov admin.OverviewJSON
	if code := call(t, "GET", base+"/api/v1/overview", nil, &ov); code != 200 || ov.Version != "test-1.2.3" ||
		ov.Connections.Current != 1 || ov.Kafka.Reachable || ov.Spool.State != "disabled" || ov.Messages.In != 2 {
		t.Errorf("GET overview = %d %+v; want version, 1 connection, Kafka unreachable, spool disabled, 2 messages in", code, ov)
	}
	var hist struct {
		Samples []admin.Sample `json:"samples"`
	}
	testkit.WaitFor(t, 5*time.Second, "two history samples", func() bool {
		call(t, "GET", base+"/api/v1/history", nil, &hist)
		return len(hist.Samples) >= 2 && hist.Samples[len(hist.Samples)-1].Connections == 1
	})

	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if code := call(t, "GET", base+"/api/v1/openapi.json", nil, &doc); code != 200 || !strings.HasPrefix(doc.OpenAPI, "3.0") || doc.Paths["/api/v1/publish"] == nil {
		t.Errorf("GET openapi.json = %d, openapi %q, %d paths; want an OpenAPI 3.0 document with /api/v1/publish", code, doc.OpenAPI, len(doc.Paths))
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<html") {
		t.Errorf("GET / = %d; want the dashboard's HTML", resp.StatusCode)
	}
}

// TestAPIAuthOverHTTP is TestAPIAuth's second half, over real HTTP (it
// runs a bridge, so it lives in package admin_test).
// TestAPIExplainPartitioner: POST /api/v1/explain gives the partition the
// configured partitioner (kafka.producer.partitioner) picks, as the producer
// would, not always murmur2's.
func TestAPIExplainPartitioner(t *testing.T) {
	for _, tc := range []struct {
		partitioner string
		sarama      sarama.Partitioner
	}{
		{"murmur2", sarama.NewMurmur2Partitioner("t")},
		{"fnv", sarama.NewHashPartitioner("t")},
	} {
		_, base := apiBridge(t, func(c *bridge.Config) { c.Kafka.Producer.Partitioner = tc.partitioner })
		for _, device := range []string{"d1", "device-42", "sensor-7", "x"} {
			want, err := tc.sarama.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(device)}, 6)
			if err != nil {
				t.Fatal(err)
			}
			var ex struct {
				Partition *int32 `json:"partition"`
			}
			code := call(t, "POST", base+"/api/v1/explain", map[string]any{"topic": "devices/" + device + "/telemetry", "partitions": 6}, &ex)
			if ex.Partition == nil {
				t.Errorf("%s, key %q: POST explain = %d without a partition; want 200, partition %d", tc.partitioner, device, code, want)
			} else if code != 200 || *ex.Partition != want {
				t.Errorf("%s, key %q: POST explain = %d, partition %d; want 200, partition %d", tc.partitioner, device, code, *ex.Partition, want)
			}
		}
	}
}

func TestAPIAuthOverHTTP(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("tok-123"))
	secured := admin.Config{Users: []admin.User{{Username: "ops", PasswordHash: string(hash)}},
		Tokens: []admin.Token{{Name: "ci", TokenSHA256: hex.EncodeToString(sum[:])}}}

	// Over real HTTP: the API needs credentials, probes do not.
	_, base := apiBridge(t, func(c *bridge.Config) { c.Admin.Users, c.Admin.Tokens = secured.Users, secured.Tokens })
	for _, path := range []string{"/api/v1/overview", "/", "/api/v1/openapi.json"} {
		if code := call(t, "GET", base+path, nil, nil); code != 401 {
			t.Errorf("GET %s without credentials = %d; want 401", path, code)
		}
	}
	if code := testkit.Call(t, "GET", base+"/api/v1/overview", nil, nil, func(r *http.Request) { r.SetBasicAuth("ops", "s3cret") }); code != 200 {
		t.Errorf("GET overview with Basic = %d; want 200", code)
	}
	if code := testkit.Call(t, "GET", base+"/api/v1/clients", nil, nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-123") }); code != 200 {
		t.Errorf("GET clients with a bearer token = %d; want 200", code)
	}
	for _, path := range []string{"/metrics", "/healthz"} {
		if code := call(t, "GET", base+path, nil, nil); code != 200 {
			t.Errorf("GET %s = %d; want 200 (probes stay open)", path, code)
		}
	}
}

// admin.pprof mounts /debug/pprof/ behind the API's auth; off, it is absent.
func TestAdminPprof(t *testing.T) {
	for _, on := range []bool{false, true} {
		_, base := apiBridge(t, func(c *bridge.Config) { c.Admin.Pprof = on })
		resp, err := http.Get(base + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if resp.StatusCode != want || on && !strings.Contains(string(body), "goroutine profile") {
			t.Errorf("admin.pprof=%v: GET /debug/pprof/goroutine = %d %.60q; want %d", on, resp.StatusCode, body, want)
		}
	}
}
