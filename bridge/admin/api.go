package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// The admin API, under /api/v1 on the admin listener. Every endpoint
// answers JSON; errors are {"error": "..."} with a 4xx/5xx status. Lists
// are paged: page (from 1) and page_size (default 50, at most 500).

const (
	defaultPageSize = 50
	maxPageSize     = 500
	historySize     = 180 // 15 minutes at 5 s
)

// historyInterval is the chart sampling interval (5 s × 180 = 15 minutes);
// a variable so tests can shorten it before the bridge runs.
var historyInterval = 5 * time.Second

// api serves /api/v1 and the dashboard.
type api struct {
	front      Front
	br         Bridge
	cfg        Config // publish_allow and publish_retain as at start
	maxPayload int    // mqtt.max_packet_size
	version    string
	started    time.Time
	log        *zap.Logger
	auth       *apiAuth
	hist       *history
	forwarder  *http.Client // admin actions forwarded to another replica (cluster.go)
}

func (s *Server) newAPI(started time.Time, interval time.Duration) *api {
	a := &api{front: s.front, br: s.br, cfg: s.cfg, maxPayload: s.opts.MaxPayload, version: s.opts.Version,
		started: started, log: s.log, auth: s.auth, forwarder: newForwarder()}
	a.hist = newHistory(interval, historySize, a.readCounters)
	return a
}

// runHistory samples the charts' counters until ctx ends, starting once
// the front end is ready: before that it is restoring its sessions, which
// nothing else may read.
func (a *api) runHistory(ctx context.Context) {
	select {
	case <-a.front.Ready():
		a.hist.run(ctx)
	case <-ctx.Done():
	}
}

// whenReady answers 503 until the front end is ready (its state is being
// restored before that).
func (a *api) whenReady(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-a.front.Ready():
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "starting: the MQTT front end is restoring its state")
		}
	})
}

// register adds the API and the dashboard to mux, behind the auth check.
func (a *api) register(mux *http.ServeMux) {
	h := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, a.auth.wrap(a.whenReady(f))) }
	h("GET /api/v1/overview", a.overview)
	h("GET /api/v1/history", a.history)
	h("GET /api/v1/clients", a.clients)
	h("GET /api/v1/clients/{id...}", a.client)
	h("DELETE /api/v1/clients/{id...}", a.kick)
	h("GET /api/v1/subscriptions", a.subscriptions)
	h("GET /api/v1/retained", a.retained)
	h("GET /api/v1/routes", a.routes)
	h("POST /api/v1/explain", a.explain)
	h("POST /api/v1/publish", a.publish)
	h("GET /api/v1/cluster", a.cluster)
	h("GET /api/v1/openapi.json", a.openapi)
	h("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
	})
	mux.Handle("/", a.auth.wrap(dashboard()))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// ---------------------------------------------------------------- overview

func (a *api) readCounters() counterSnap {
	st := a.front.Stats()
	ps := a.br.Kafka().Producer
	rs := a.br.Routes()
	c := counterSnap{t: time.Now(), conns: st.ConnectionsCurrent, produced: ps.Produced + ps.Drained,
		latNanos: rs.LatencyNanos, latCount: rs.LatencyCount, spoolRecords: ps.Spool.Records}
	for q := range 3 {
		c.in += st.MessagesIn[q]
		c.out += st.MessagesOut[q]
	}
	return c
}

type overviewJSON struct {
	Version       string    `json:"version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	Connections   struct {
		Current       int64  `json:"current"`
		Total         uint64 `json:"total"`
		Sessions      int    `json:"sessions"`
		Subscriptions int    `json:"subscriptions"`
		Retained      int    `json:"retained"`
	} `json:"connections"`
	Rates struct {
		WindowSeconds   float64 `json:"window_seconds"` // the sampling interval the rates cover
		MessagesInRate  float64 `json:"messages_in_per_s"`
		MessagesOutRate float64 `json:"messages_out_per_s"`
		ProducedRate    float64 `json:"produced_per_s"`
		LatencyMs       float64 `json:"produce_latency_ms"`
	} `json:"rates"`
	Messages struct {
		In        uint64 `json:"in"`
		Out       uint64 `json:"out"`
		Unmatched uint64 `json:"unmatched"`
	} `json:"messages"`
	// Kafka's liveness from the probe (a metadata request every second);
	// reachable is mqtt_bridge_kafka_connected.
	Kafka struct {
		Reachable       bool              `json:"reachable"`
		State           string            `json:"state"`  // unknown, up, degraded or down
		Reason          string            `json:"reason"` // ok, starting, no_leader, unreachable, timeout, not_authorized, authentication, tls, other
		Error           string            `json:"error,omitempty"`
		Since           time.Time         `json:"since"`      // when state and reason took their values
		CheckedAt       time.Time         `json:"checked_at"` // the last probe round
		LatencyMs       float64           `json:"probe_latency_ms"`
		Broker          string            `json:"broker,omitempty"` // the address that answered
		Brokers         int               `json:"brokers"`
		LeaderlessCount int               `json:"leaderless_partitions"`
		Leaderless      []string          `json:"leaderless"`     // up to 20 "topic/partition"
		MissingTopics   []string          `json:"missing_topics"` // mapped topics the cluster does not know (yet)
		Produced        uint64            `json:"produced"`
		InFlight        int               `json:"in_flight"`
		Failed          map[string]uint64 `json:"failed"`
		// Backpressure: Produce calls wait for the producer's window
		// (Kafka answers, slower than the load); nothing spills for it.
		Backpressure bool   `json:"backpressure"`
		WindowFull   uint64 `json:"window_full_total"`
	} `json:"kafka"`
	Parts []Part `json:"parts"` // every part's state and reason (Bridge.Parts)
	Spool struct {
		Enabled          bool    `json:"enabled"`
		State            string  `json:"state"` // disabled, direct, spilling, draining or blocked
		Records          int64   `json:"records"`
		Bytes            int64   `json:"bytes"`
		QuotaBytes       int64   `json:"quota_bytes"`
		OldestAgeSeconds float64 `json:"oldest_age_seconds"`
		SpillReason      string  `json:"spill_reason"` // the latest spill's reason (kafka_slow, kafka_error, not_connected, ack_spool); "" before the first
	} `json:"spool"`
	Downlink struct {
		Enabled       bool      `json:"enabled"`
		Lag           int64     `json:"lag"`
		Partitions    []string  `json:"partitions"` // "topic/partition" held now
		LastError     string    `json:"last_error,omitempty"`
		LastErrorKind string    `json:"last_error_kind,omitempty"`
		LastErrorAt   time.Time `json:"last_error_at,omitzero"`
	} `json:"downlink"`
}

func (a *api) overview(w http.ResponseWriter, _ *http.Request) {
	var o overviewJSON
	o.Version = a.version
	o.StartedAt = a.started
	o.UptimeSeconds = int64(time.Since(a.started).Seconds())
	st := a.front.Stats()
	o.Connections.Current = st.ConnectionsCurrent
	o.Connections.Total = st.ConnectionsTotal
	o.Connections.Sessions = st.Sessions
	o.Connections.Subscriptions = st.Subscriptions
	o.Connections.Retained = st.Retained
	for q := range 3 {
		o.Messages.In += st.MessagesIn[q]
		o.Messages.Out += st.MessagesOut[q]
	}
	o.Messages.Unmatched = a.br.Routes().Unmatched
	if s, ok := a.hist.latest(); ok {
		o.Rates.WindowSeconds = a.hist.interval.Seconds()
		o.Rates.MessagesInRate, o.Rates.MessagesOutRate = s.MessagesInRate, s.MessagesOutRate
		o.Rates.ProducedRate, o.Rates.LatencyMs = s.ProducedRate, s.LatencyMs
	}
	k := a.br.Kafka()
	ps, kh := k.Producer, k.Probe
	o.Kafka.Reachable = k.Reachable
	o.Kafka.State, o.Kafka.Reason, o.Kafka.Error = string(kh.State), kh.Reason, kh.Err
	o.Kafka.Since, o.Kafka.CheckedAt = kh.Since, kh.Checked
	o.Kafka.LatencyMs = float64(kh.Latency.Microseconds()) / 1000
	o.Kafka.Broker, o.Kafka.Brokers = kh.Broker, kh.Brokers
	o.Kafka.LeaderlessCount, o.Kafka.Leaderless, o.Kafka.MissingTopics = kh.LeaderlessCount, nonNil(kh.Leaderless), nonNil(kh.MissingTopics)
	o.Parts = nonNil(a.br.Parts())
	o.Kafka.Produced = ps.Produced
	o.Kafka.InFlight = ps.InFlight
	o.Kafka.Failed = ps.Failed
	o.Kafka.Backpressure = ps.Waiting > 0
	o.Kafka.WindowFull = ps.WindowFull
	o.Spool.State = "disabled"
	if k.Spool {
		o.Spool.Enabled = true
		o.Spool.State = ps.State
		o.Spool.Records = ps.Spool.Records
		o.Spool.Bytes = ps.Spool.Bytes
		o.Spool.QuotaBytes = ps.Spool.QuotaBytes
		o.Spool.OldestAgeSeconds = ps.Spool.OldestAge.Seconds()
		o.Spool.SpillReason = ps.SpillReason
	}
	o.Downlink.Partitions = []string{}
	if k.Downlink {
		ch := k.Consumer
		o.Downlink.Enabled = true
		o.Downlink.Lag = k.Lag
		o.Downlink.Partitions = nonNil(ch.Partitions)
		o.Downlink.LastError, o.Downlink.LastErrorKind, o.Downlink.LastErrorAt = ch.LastError, ch.LastErrorKind, ch.LastErrorAt
	}
	writeJSON(w, http.StatusOK, o)
}

func (a *api) history(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"interval_seconds": a.hist.interval.Seconds(),
		"samples":          a.hist.samples(),
	})
}

// ---------------------------------------------------------------- paging

type page struct {
	Page, Size int
}

func parsePage(r *http.Request) (page, error) {
	p := page{Page: 1, Size: defaultPageSize}
	q := r.URL.Query()
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, fmt.Errorf("page: %q is not a positive integer", s)
		}
		p.Page = n
	}
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return p, fmt.Errorf("page_size: %q is not an integer from 1 to %d", s, maxPageSize)
		}
		p.Size = n
	}
	return p, nil
}

// slice returns the page's window of a list of n items.
func (p page) slice(n int) (from, to int) {
	from = min((p.Page-1)*p.Size, n)
	return from, min(from+p.Size, n)
}

type pageJSON struct {
	Total    int `json:"total"`
	Page     int `json:"page"`
	PageSize int `json:"page_size"`
	Items    any `json:"items"`
}

// ---------------------------------------------------------------- clients

func (a *api) clients(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	match := r.URL.Query().Get("match")
	all := a.front.Clients()
	list := all[:0:0]
	for _, c := range all {
		if match == "" || strings.Contains(c.ClientID, match) || strings.Contains(c.Username, match) || strings.Contains(c.RemoteAddr, match) {
			list = append(list, c)
		}
	}
	from, to := p.slice(len(list))
	writeJSON(w, http.StatusOK, pageJSON{Total: len(list), Page: p.Page, PageSize: p.Size, Items: nonNil(list[from:to])})
}

type subJSON struct {
	ClientID          string `json:"client_id"`
	Filter            string `json:"filter"`
	Group             string `json:"share_group,omitempty"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local"`
	RetainAsPublished bool   `json:"retain_as_published"`
	RetainHandling    byte   `json:"retain_handling"`
	ID                uint32 `json:"subscription_id,omitempty"`
}

func toSubJSON(subs []mqttfront.Subscription) []subJSON {
	out := make([]subJSON, len(subs))
	for i, s := range subs {
		out[i] = subJSON{ClientID: s.ClientID, Filter: s.Filter, Group: s.Group, QoS: s.QoS, NoLocal: s.NoLocal,
			RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, ID: s.ID}
	}
	return out
}

func (a *api) client(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ci, subs, ok := a.front.Client(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no session for client id %q", id))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		mqttfront.ClientInfo
		SubscriptionList []subJSON `json:"subscription_list"`
	}{ci, toSubJSON(subs)})
}

func (a *api) kick(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.front.Kick(id) {
		if c := a.br.Cluster(); c != nil {
			if owner, ok := c.Owner(id); ok && !owner.Self {
				a.kickRemote(w, r, c, id, owner)
				return
			}
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("client %q is not connected", id))
		return
	}
	a.log.Info("admin: client disconnected by the admin API", adminField(r), clientField(id))
	writeJSON(w, http.StatusOK, map[string]any{"client_id": id, "disconnected": true, "reason_code": int(mqttfront.KickReasonCode)})
}

// ---------------------------------------------------------------- subscriptions, retained

func (a *api) subscriptions(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	subs := a.front.Subscriptions(r.URL.Query().Get("match"))
	from, to := p.slice(len(subs))
	writeJSON(w, http.StatusOK, pageJSON{Total: len(subs), Page: p.Page, PageSize: p.Size, Items: toSubJSON(subs[from:to])})
}

func (a *api) retained(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list := a.front.RetainedMessages(r.URL.Query().Get("match"), 0)
	from, to := p.slice(len(list))
	writeJSON(w, http.StatusOK, pageJSON{Total: len(list), Page: p.Page, PageSize: p.Size, Items: nonNil(list[from:to])})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ---------------------------------------------------------------- routes

type routeJSON struct {
	Name        string   `json:"name"`
	Direction   string   `json:"direction"` // uplink or downlink
	MQTTTopic   string   `json:"mqtt_topic"`
	KafkaTopics []string `json:"kafka_topics"`
	RouteCount
}

func (a *api) routes(w http.ResponseWriter, _ *http.Request) {
	rules := a.br.Rules()
	rs := a.br.Routes()
	mc := a.br.Mapping()
	up := map[string]mapping.UplinkRule{}
	for _, r := range mc.Uplink {
		up[r.Name] = r
	}
	down := map[string]mapping.DownlinkRule{}
	for _, r := range mc.Downlink {
		down[r.Name] = r
	}
	out := []routeJSON{}
	for _, name := range rules.UplinkRuleNames() {
		cfg := up[name]
		rj := routeJSON{Name: name, Direction: "uplink", MQTTTopic: cfg.MQTTTopic, RouteCount: rs.Uplink[name]}
		if cfg.KafkaTopic != "" {
			rj.KafkaTopics = []string{cfg.KafkaTopic}
		}
		out = append(out, rj)
	}
	for _, name := range rules.DownlinkRuleNames() {
		cfg := down[name]
		out = append(out, routeJSON{Name: name, Direction: "downlink", MQTTTopic: cfg.MQTTTopic, KafkaTopics: cfg.KafkaTopics,
			RouteCount: rs.Downlink[name]})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"routes":            out,
		"uplink_unmatched":  rs.Unmatched,
		"dead_letter_topic": rules.DeadLetterTopic(),
	})
}

// ---------------------------------------------------------------- explain

type explainRequest struct {
	// Uplink: an MQTT publish.
	Topic      string `json:"topic"`
	ClientID   string `json:"client_id"`
	Username   string `json:"username"`
	QoS        *int   `json:"qos"`
	Payload    string `json:"payload"`
	Partitions int32  `json:"partitions"`
	// Downlink: a Kafka record on this topic.
	Downlink string            `json:"downlink"`
	Key      string            `json:"key"`
	Headers  map[string]string `json:"headers"`
}

type headerJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type explainUplinkJSON struct {
	Direction    string             `json:"direction"`
	Topic        string             `json:"topic"`
	Outcome      string             `json:"outcome"`
	Rule         string             `json:"rule"`
	Captures     []headerJSON       `json:"captures"` // {key: capture name, value: topic level}
	KafkaTopic   string             `json:"kafka_topic"`
	Key          *string            `json:"key"`       // null: no key, the producer picks a partition
	Partition    *int32             `json:"partition"` // murmur2 of the key, as the Java client
	Partitions   int32              `json:"partitions"`
	Ack          string             `json:"ack"`
	DeadLetter   string             `json:"dead_letter_reason,omitempty"`
	Headers      []headerJSON       `json:"headers"`
	Checks       []explainCheckJSON `json:"checks"`
	ValueBytes   int                `json:"value_bytes"`
	ValuePreview string             `json:"value_preview"`
}

type explainCheckJSON struct {
	Rule    string `json:"rule"`
	Filter  string `json:"filter"`
	Matched bool   `json:"matched"`
	Why     string `json:"why"`
}

func (a *api) explain(w http.ResponseWriter, r *http.Request) {
	var req explainRequest
	if err := decodeBody(w, r, 1<<20, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rules := a.br.Rules()
	if req.Downlink != "" {
		a.explainDownlink(w, rules, req)
		return
	}
	if err := mqttfront.ValidTopicName(req.Topic); err != nil {
		writeError(w, http.StatusBadRequest, "topic: "+err.Error())
		return
	}
	qos := 1
	if req.QoS != nil {
		qos = *req.QoS
	}
	if qos < 0 || qos > 2 {
		writeError(w, http.StatusBadRequest, "qos: want 0, 1 or 2")
		return
	}
	parts := req.Partitions
	if parts == 0 {
		parts = 3
	}
	if parts < 1 {
		writeError(w, http.StatusBadRequest, "partitions: want a positive number")
		return
	}
	clientID := req.ClientID
	if clientID == "" {
		clientID = "device-1"
	}
	p := &mapping.Publish{Topic: req.Topic, ClientID: clientID, Username: req.Username, QoS: byte(qos),
		Payload: []byte(req.Payload), ReceivedAt: time.Now()}
	ex, part := a.br.ExplainUplink(p, parts)
	out := explainUplinkJSON{Direction: "uplink", Topic: req.Topic, Outcome: ex.Outcome.String(), Rule: ex.Rule,
		Captures: []headerJSON{}, KafkaTopic: ex.Record.Topic, Partitions: parts, Ack: string(ex.Record.Ack),
		DeadLetter: string(ex.Record.Reason), Headers: []headerJSON{}, Checks: []explainCheckJSON{}, ValueBytes: len(ex.Record.Value)}
	if ex.Outcome != mapping.Unmatched && ex.Record.Key != nil {
		k := string(ex.Record.Key)
		out.Key, out.Partition = &k, &part
	}
	for _, c := range ex.Captures {
		out.Captures = append(out.Captures, headerJSON{Key: c.Name, Value: c.Value})
	}
	for _, h := range ex.Record.Headers {
		out.Headers = append(out.Headers, headerJSON{Key: h.Key, Value: string(h.Value)})
	}
	for _, c := range ex.Checks {
		out.Checks = append(out.Checks, explainCheckJSON{Rule: c.Rule, Filter: c.Filter, Matched: c.Matched, Why: c.Why})
	}
	v := ex.Record.Value
	if len(v) > 256 {
		v = v[:256]
	}
	if utf8.Valid(v) {
		out.ValuePreview = string(v)
	} else {
		out.ValuePreview = base64.StdEncoding.EncodeToString(v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) explainDownlink(w http.ResponseWriter, rules *mapping.Rules, req explainRequest) {
	kr := &mapping.KafkaRecord{Topic: req.Downlink}
	if req.Key != "" {
		kr.Key = []byte(req.Key)
	}
	for k, v := range req.Headers {
		kr.Headers = append(kr.Headers, mapping.Header{Key: k, Value: []byte(v)})
	}
	msg, err := rules.Downlink(kr)
	if err != nil {
		out := map[string]any{"direction": "downlink", "kafka_topic": req.Downlink, "routed": false, "reason": err.Error()}
		var de *mapping.DownlinkError
		if errors.As(err, &de) {
			out["rule"] = de.Rule
			out["reason_code"] = string(de.Reason)
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	props := []headerJSON{}
	for _, p := range msg.UserProperties {
		props = append(props, headerJSON{Key: p.Key, Value: p.Value})
	}
	writeJSON(w, http.StatusOK, map[string]any{"direction": "downlink", "kafka_topic": req.Downlink, "routed": true,
		"rule": msg.Rule, "mqtt_topic": msg.Topic, "qos": msg.QoS, "retain": msg.Retain, "user_properties": props,
		"content_type": msg.ContentType, "response_topic": msg.ResponseTopic})
}

// decodeBody reads one JSON object of at most limit bytes into v.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body larger than %d bytes", limit)
		}
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

// ---------------------------------------------------------------- publish

type publishRequest struct {
	Topic          string       `json:"topic"`
	Payload        *string      `json:"payload"`        // text
	PayloadBase64  *string      `json:"payload_base64"` // or binary, base64 (standard alphabet, padded)
	QoS            int          `json:"qos"`
	Retain         bool         `json:"retain"`
	UserProperties []headerJSON `json:"user_properties"`
	ContentType    string       `json:"content_type"`
}

func (a *api) publish(w http.ResponseWriter, r *http.Request) {
	maxPayload := a.maxPayload
	var req publishRequest
	// Room for a base64 payload of max_packet_size plus the rest.
	if err := decodeBody(w, r, int64(maxPayload)*4/3+64<<10, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	m, status, err := a.publishMessage(req, maxPayload)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	// In cluster mode done comes once the copies to other replicas are
	// in Kafka, possibly after Publish returned.
	res := make(chan error, 1)
	a.front.Publish(m, func(err error) { res <- err })
	var pubErr error
	select {
	case pubErr = <-res:
	case <-r.Context().Done():
		pubErr = r.Context().Err()
	}
	if pubErr != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(pubErr, mqttfront.ErrTopicInvalid) {
			status = http.StatusBadRequest
		}
		writeError(w, status, "publish: "+pubErr.Error())
		return
	}
	a.log.Info("admin: message published by the admin API", adminField(r), topicField(m.Topic))
	writeJSON(w, http.StatusOK, map[string]any{"published": true, "topic": m.Topic, "qos": m.QoS, "retain": m.Retain, "payload_bytes": len(m.Payload)})
}

// publishMessage validates req into a message; on error it also returns
// the HTTP status.
func (a *api) publishMessage(req publishRequest, maxPayload int) (*mqttfront.Message, int, error) {
	if err := mqttfront.ValidTopicName(req.Topic); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("topic: %w", err)
	}
	if strings.HasPrefix(req.Topic, "$") {
		return nil, http.StatusForbidden, errors.New("topic: $-topics belong to the broker")
	}
	if len(a.cfg.PublishAllow) == 0 {
		return nil, http.StatusForbidden, errors.New("the publish API is off: admin.publish_allow is empty (list the topic filters it may publish to)")
	}
	allowed := false
	for _, f := range a.cfg.PublishAllow {
		if mqttfront.TopicMatches(f, req.Topic) {
			allowed = true
			break
		}
	}
	if !allowed {
		return nil, http.StatusForbidden, fmt.Errorf("topic %q: not allowed by admin.publish_allow", req.Topic)
	}
	if req.Retain && !a.cfg.PublishRetain {
		return nil, http.StatusForbidden, errors.New("retain: retained publishes need admin.publish_retain: true")
	}
	if req.QoS < 0 || req.QoS > 2 {
		return nil, http.StatusBadRequest, errors.New("qos: want 0, 1 or 2")
	}
	var payload []byte
	switch {
	case req.Payload != nil && req.PayloadBase64 != nil:
		return nil, http.StatusBadRequest, errors.New("give payload or payload_base64, not both")
	case req.PayloadBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*req.PayloadBase64)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("payload_base64: %w", err)
		}
		payload = b
	case req.Payload != nil:
		payload = []byte(*req.Payload)
	}
	if len(payload) > maxPayload {
		return nil, http.StatusBadRequest, fmt.Errorf("payload: %d bytes; mqtt.max_packet_size is %d", len(payload), maxPayload)
	}
	m := &mqttfront.Message{Topic: req.Topic, Payload: payload, QoS: byte(req.QoS), Retain: req.Retain, ReceivedAt: time.Now()}
	m.Properties.ContentType = req.ContentType
	for i, p := range req.UserProperties {
		if p.Key == "" || !utf8.ValidString(p.Key) || !utf8.ValidString(p.Value) || strings.ContainsRune(p.Key+p.Value, 0) {
			return nil, http.StatusBadRequest, fmt.Errorf("user_properties[%d]: want a non-empty UTF-8 key and a UTF-8 value without U+0000", i)
		}
		m.Properties.User = append(m.Properties.User, mqttfront.UserProperty{Key: p.Key, Value: p.Value})
	}
	return m, 0, nil
}

func (a *api) openapi(w http.ResponseWriter, _ *http.Request) {
	b, err := webFS.ReadFile("web/openapi.json")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
