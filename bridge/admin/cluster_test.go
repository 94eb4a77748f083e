package admin

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

// fakeCluster is cluster mode with fixed answers.
type fakeCluster struct {
	owners  map[string]ClusterReplica
	forward bool
}

func (fakeCluster) ReplicaID() string { return "r1" }
func (c fakeCluster) Forward() bool   { return c.forward }
func (fakeCluster) View() ClusterView {
	return ClusterView{Replica: "r1", State: "ready", Ready: true, Replicas: []ClusterReplica{{ID: "r1", Self: true, Live: true, State: "alive"}}}
}
func (c fakeCluster) Owner(id string) (ClusterReplica, bool) {
	r, ok := c.owners[id]
	return r, ok
}

type clusterBridge struct {
	fakeBridge
	c Cluster
}

func (b clusterBridge) Cluster() Cluster { return b.c }

// clusterAPI is the API's mux over a front end with no clients and c
// (nil: cluster mode off).
func clusterAPI(t *testing.T, c Cluster) http.Handler {
	ready := make(chan struct{})
	close(ready)
	a := &api{front: fakeFront{ready: ready}, br: clusterBridge{c: c}, log: zaptest.NewLogger(t), auth: newAPIAuth(Config{}),
		forwarder: newForwarder()}
	a.hist = newHistory(historyInterval, historySize, a.readCounters)
	mux := http.NewServeMux()
	a.register(mux)
	return mux
}

// TestClusterEndpointOff: GET /api/v1/cluster answers 404 with a JSON
// error when cluster mode is off, and the view with [] lists when on.
func TestClusterEndpointOff(t *testing.T) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/cluster", nil)
	req.RemoteAddr = "127.0.0.1:1"
	clusterAPI(t, nil).ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"error": "cluster mode is off (cluster.enabled: false)"`) {
		t.Errorf("GET /api/v1/cluster, cluster off = %d %s; want 404 saying cluster mode is off", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	clusterAPI(t, fakeCluster{}).ServeHTTP(rec, req)
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/cluster = %d %s (%v); want 200 JSON", rec.Code, rec.Body, err)
	}
	reps, _ := v["replicas"].([]any)
	r0, _ := reps[0].(map[string]any)
	if v["tables"] == nil || r0["mqtt_addresses"] == nil || r0["heartbeat_age_seconds"] != nil || r0["inbox_lag"] != nil {
		t.Errorf("GET /api/v1/cluster = %s; want [] for empty lists, null ages and inbox lag", rec.Body)
	}
	if _, ok := r0["inbox_lag"]; !ok {
		t.Errorf("replica %v has no inbox_lag key; want null until routing reports it", r0)
	}
}

// TestClusterKickRemote: DELETE /api/v1/clients/{id} for a client another
// replica owns: forwarded with the caller's Authorization and relayed, or
// refused with the reason (a request forwarded once already, forwarding
// off, the owner not live or without an address, the owner unreachable or
// answering something other than JSON).
func TestClusterKickRemote(t *testing.T) {
	type seen struct{ method, path, auth, by, ctype string }
	var got []seen
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, seen{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get(ForwardedByHeader), r.Header.Get("Content-Type")})
		switch {
		case strings.HasSuffix(r.URL.Path, "/text"):
			_, _ = w.Write([]byte("not json"))
		case strings.HasSuffix(r.URL.Path, "/gone"):
			writeError(w, http.StatusNotFound, "client \"gone\" is not connected")
		default:
			writeJSON(w, http.StatusOK, map[string]any{"client_id": strings.TrimPrefix(r.URL.Path, "/api/v1/clients/"), "disconnected": true})
		}
	}))
	defer owner.Close()
	ownerAddr := strings.TrimPrefix(owner.URL, "http://")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	live := ClusterReplica{ID: "r2", State: "alive", Live: true, AdminAddress: ownerAddr}
	owners := map[string]ClusterReplica{
		"dev/1":  live,
		"gone":   live,
		"x/text": live,
		"stale":  {ID: "r3", State: "stale", AdminAddress: "10.0.0.3:8080"},
		"noaddr": {ID: "r4", State: "alive", Live: true},
		"dead":   {ID: "r5", State: "alive", Live: true, AdminAddress: deadAddr},
		"mine":   {ID: "r1", State: "alive", Live: true, Self: true},
	}
	cases := []struct {
		name, id string
		forward  bool
		by       string
		want     int
		body     string
		hops     int // requests the owner saw
	}{
		{"forwarded and relayed", "dev/1", true, "", http.StatusOK, `"client_id": "dev/1"`, 1},
		{"owner's 404 relayed", "gone", true, "", http.StatusNotFound, `not connected`, 1},
		{"owner's answer not JSON", "x/text", true, "", http.StatusBadGateway, "not JSON", 1},
		{"one hop only", "dev/1", true, "r9", http.StatusConflict, "not forwarded again", 0},
		{"forwarding off", "dev/1", false, "", http.StatusConflict, ownerAddr, 0},
		{"owner stale", "stale", true, "", http.StatusServiceUnavailable, "which is stale", 0},
		{"owner without address", "noaddr", true, "", http.StatusServiceUnavailable, "cluster.advertise_admin", 0},
		{"owner unreachable", "dead", true, "", http.StatusBadGateway, deadAddr, 0},
		{"this replica owns it", "mine", true, "", http.StatusNotFound, "is not connected", 0},
		{"no session", "nobody", true, "", http.StatusNotFound, "is not connected", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			h := clusterAPI(t, fakeCluster{owners: owners, forward: tc.forward})
			req := httptest.NewRequest(http.MethodDelete, "/api/v1/clients/"+tc.id, nil)
			req.RemoteAddr = "127.0.0.1:1"
			req.Header.Set("Authorization", "Basic b3BzOnMzY3JldA==")
			if tc.by != "" {
				req.Header.Set(ForwardedByHeader, tc.by)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.body) || !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("DELETE %s = %d %s; want %d with %q", tc.id, rec.Code, rec.Body, tc.want, tc.body)
			}
			if len(got) != tc.hops {
				t.Fatalf("the owner saw %d requests (%+v); want %d", len(got), got, tc.hops)
			}
			if tc.hops == 1 {
				want := seen{http.MethodDelete, "/api/v1/clients/" + tc.id, "Basic b3BzOnMzY3JldA==", "r1", "application/json"}
				if got[0] != want {
					t.Errorf("the owner saw %+v; want %+v", got[0], want)
				}
				if tc.want == http.StatusOK && rec.Header().Get(ReplicaHeader) != "r2" {
					t.Errorf("%s = %q; want r2", ReplicaHeader, rec.Header().Get(ReplicaHeader))
				}
			}
		})
	}
}

// TestClusterOpenAPI: openapi.json documents GET /api/v1/cluster, and its
// schemas name every JSON field the API sends (and no other).
func TestClusterOpenAPI(t *testing.T) {
	raw, err := webFS.ReadFile("web/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Paths["/api/v1/cluster"]["get"] == nil {
		t.Fatal("openapi.json has no GET /api/v1/cluster")
	}
	for schema, v := range map[string]any{"ClusterView": ClusterView{}, "ClusterReplica": ClusterReplica{},
		"ClusterTable": ClusterTable{}, "ClusterClaims": ClusterClaims{}} {
		b, _ := json.Marshal(v)
		var fields map[string]any
		_ = json.Unmarshal(b, &fields)
		props := doc.Components.Schemas[schema].Properties
		for f := range fields {
			if _, ok := props[f]; !ok {
				t.Errorf("openapi.json %s lacks %q", schema, f)
			}
		}
		for p := range props {
			if _, ok := fields[p]; !ok && p != "last_heartbeat" && p != "started_at" && p != "not_ready_reason" {
				t.Errorf("openapi.json %s documents %q, which the API does not send", schema, p)
			}
		}
	}
}
