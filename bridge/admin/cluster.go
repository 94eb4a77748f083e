package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// Cluster mode in the API (web/README.md, "Cluster"): GET /api/v1/cluster,
// and admin actions on a client whose session another replica owns.

// ForwardedByHeader marks a request one replica forwarded to another,
// with the forwarding replica's id. A forwarded request is never
// forwarded again (no loops while the sessions table moves).
const ForwardedByHeader = "X-Mqtt-Bridge-Forwarded-By"

// ReplicaHeader names the replica whose answer a forwarding replica
// relays.
const ReplicaHeader = "X-Mqtt-Bridge-Replica"

const (
	forwardTimeout   = 5 * time.Second
	forwardBodyLimit = 64 << 10 // bytes of the owner's answer relayed
)

// clusterOff answers 404 when cluster mode is off.
func clusterOff(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "cluster mode is off (cluster.enabled: false)")
}

func (a *api) cluster(w http.ResponseWriter, _ *http.Request) {
	c := a.br.Cluster()
	if c == nil {
		clusterOff(w)
		return
	}
	v := c.View()
	v.Replicas = nonNil(v.Replicas)
	v.Tables = nonNil(v.Tables)
	for i := range v.Replicas {
		v.Replicas[i].MQTTAddresses = nonNil(v.Replicas[i].MQTTAddresses)
	}
	writeJSON(w, http.StatusOK, v)
}

// kickRemote acts on a client whose session owner, another replica, holds
// its connection: it forwards the DELETE to the owner's advertised admin
// address with the caller's Authorization header and relays the answer
// (cluster.admin_forward), or answers 409 naming the owner.
func (a *api) kickRemote(w http.ResponseWriter, r *http.Request, c Cluster, id string, owner ClusterReplica) {
	ownerJSON := map[string]any{"id": owner.ID, "state": owner.State, "live": owner.Live, "admin_address": owner.AdminAddress}
	refuse := func(status int, msg string) {
		writeJSON(w, status, map[string]any{"error": msg, "client_id": id, "owner": ownerJSON})
	}
	switch {
	case r.Header.Get(ForwardedByHeader) != "":
		// The forwarding replica's table named this one; ours names
		// another (the session moved meanwhile). One hop only.
		refuse(http.StatusConflict, fmt.Sprintf("client %q is not connected here: its session is owned by replica %s (forwarded requests are not forwarded again)", id, owner.ID))
	case !c.Forward():
		refuse(http.StatusConflict, fmt.Sprintf("client %q's session is owned by replica %s: send the request to its admin listener (%s); cluster.admin_forward is off", id, owner.ID, orNone(owner.AdminAddress)))
	case !owner.Live:
		refuse(http.StatusServiceUnavailable, fmt.Sprintf("client %q's session is owned by replica %s, which is %s: nothing to forward to", id, owner.ID, owner.State))
	case owner.AdminAddress == "":
		refuse(http.StatusServiceUnavailable, fmt.Sprintf("client %q's session is owned by replica %s, which advertises no admin address (cluster.advertise_admin)", id, owner.ID))
	default:
		a.forward(w, r, id, owner)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none advertised"
	}
	return s
}

// forward sends r's method and path to the owner's admin listener with the
// caller's Authorization header (already checked here), and relays the
// status and the JSON answer (at most forwardBodyLimit bytes).
func (a *api) forward(w http.ResponseWriter, r *http.Request, id string, owner ClusterReplica) {
	ctx, cancel := context.WithTimeout(r.Context(), forwardTimeout)
	defer cancel()
	u := url.URL{Scheme: "http", Host: owner.AdminAddress, Path: r.URL.Path}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), http.NoBody)
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("forward to replica %s: %v", owner.ID, err))
		return
	}
	if h := r.Header.Get("Authorization"); h != "" {
		req.Header.Set("Authorization", h)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(ForwardedByHeader, a.replicaID())
	resp, err := a.forwarder.Do(req)
	if err != nil {
		a.log.Warn("admin: forward to the owner replica failed", adminField(r), clientField(id), zap.String("owner", owner.ID),
			zap.String("owner_admin", owner.AdminAddress), zap.Error(err))
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": fmt.Sprintf("forward to replica %s at %s: %v", owner.ID, owner.AdminAddress, err),
			"client_id": id, "owner": map[string]any{"id": owner.ID, "admin_address": owner.AdminAddress}})
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, forwardBodyLimit+1))
	if err == nil && len(body) > forwardBodyLimit {
		err = fmt.Errorf("answer larger than %d bytes", forwardBodyLimit)
	}
	if err == nil && !json.Valid(body) {
		err = errors.New("answer is not JSON")
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("forward to replica %s at %s: status %d: %v", owner.ID, owner.AdminAddress, resp.StatusCode, err))
		return
	}
	a.log.Info("admin: request forwarded to the owner replica", adminField(r), clientField(id), zap.String("owner", owner.ID),
		zap.Int("status", resp.StatusCode))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set(ReplicaHeader, owner.ID)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// replicaID is this replica's id, "" without clustering.
func (a *api) replicaID() string {
	if c := a.br.Cluster(); c != nil {
		return c.ReplicaID()
	}
	return ""
}

// newForwarder is the HTTP client of forwarded requests: no redirects
// followed (an answer is relayed as it is), no idle connections kept (no
// goroutine outlives a request).
func newForwarder() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil, ResponseHeaderTimeout: forwardTimeout},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       forwardTimeout,
	}
}
