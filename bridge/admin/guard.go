package admin

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// adminGuard stands in front of every route of the admin listener and
// keeps other web sites out of it (issue 10, item 4):
//
//   - Host (DNS rebinding): a page on evil.example whose name an attacker
//     re-points at the bridge is same-origin with the bridge as far as the
//     browser knows, so only the listener's own names are served: any IP
//     literal (a browser sends one only when the page's URL has it, and then
//     the page's origin is that IP, not the attacker's), localhost, the
//     machine's hostname and admin.allowed_hosts. 421 otherwise.
//   - Origin (CSRF): when a browser says where a request comes from, it must
//     be the bridge itself (Origin's host = Host) or admin.allowed_origins.
//     403 otherwise. Sec-Fetch-Site: cross-site on a state-changing request
//     is refused too unless its Origin is listed.
//   - Content-Type: a state-changing request (anything but GET, HEAD,
//     OPTIONS) must be application/json. An HTML form or a no-cors fetch
//     cannot send that type without a CORS preflight, which the bridge never
//     grants. 415 otherwise.
//
// The read-only probes (GET/HEAD /metrics, /healthz, /readyz) skip the Host
// and Origin checks: they carry no credentials-protected data, and
// Prometheus and other scrapers address the pod by whatever name they know
// (docker compose: bridge:8080; a Service's DNS name).
//
// Every answer, refused or not, forbids framing and MIME sniffing.
type adminGuard struct {
	lists   atomic.Pointer[guardLists] // replaced whole by a reload
	log     *zap.Logger
	refused *prometheus.CounterVec
	logs    *windowLimiter
}

// guardLists are the names and origins allowed, lowercased.
type guardLists struct {
	anyHost   bool
	hosts     map[string]bool // exact names
	suffixes  []string        // ".example.com" for "*.example.com"
	anyOrigin bool
	origins   map[string]bool // "scheme://host[:port]"
}

// Reasons of mqtt_bridge_admin_requests_refused_total.
const (
	refusedHost        = "host"
	refusedOrigin      = "origin"
	refusedCrossSite   = "cross_site"
	refusedContentType = "content_type"
)

// adminSecurityHeaders go on every answer. The dashboard replaces the CSP
// with its own (apiweb.go), which also has frame-ancestors 'none'.
var adminSecurityHeaders = [][2]string{
	{"X-Frame-Options", "DENY"},
	{"X-Content-Type-Options", "nosniff"},
	{"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
	{"Referrer-Policy", "no-referrer"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
}

func newAdminGuard(c Config, log *zap.Logger, refused *prometheus.CounterVec) *adminGuard {
	g := &adminGuard{log: log, refused: refused, logs: newWindowLimiter(10, time.Minute)}
	g.set(c)
	return g
}

// set replaces the allowed hosts and origins (a reload).
func (g *adminGuard) set(c Config) {
	l := &guardLists{hosts: map[string]bool{"localhost": true}, origins: map[string]bool{}}
	if h, err := os.Hostname(); err == nil && h != "" {
		l.hosts[strings.ToLower(h)] = true
	}
	for _, h := range c.AllowedHosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		switch {
		case h == "*":
			l.anyHost = true
		case strings.HasPrefix(h, "*."):
			l.suffixes = append(l.suffixes, h[1:])
		default:
			l.hosts[h] = true
		}
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			l.anyOrigin = true
			continue
		}
		l.origins[normalOrigin(o)] = true
	}
	g.lists.Store(l)
}

// normalOrigin lowercases an origin and drops a trailing slash, as
// browsers send it (scheme://host[:port]).
func normalOrigin(o string) string {
	return strings.ToLower(strings.TrimSuffix(o, "/"))
}

func isProbe(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case "/metrics", "/healthz", "/readyz":
		return true
	}
	return false
}

// safeMethod: methods that change nothing on the admin listener.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func (g *adminGuard) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, kv := range adminSecurityHeaders {
			w.Header().Set(kv[0], kv[1])
		}
		if isProbe(r) {
			h.ServeHTTP(w, r)
			return
		}
		l := g.lists.Load()
		if !l.hostAllowed(r.Host) {
			g.refuse(w, r, http.StatusMisdirectedRequest, refusedHost,
				fmt.Sprintf("Host %q is not a name of this admin listener: add it to admin.allowed_hosts (localhost, IP addresses and the machine's hostname are always allowed)", r.Host))
			return
		}
		origin := r.Header.Get("Origin")
		listed := origin != "" && (l.anyOrigin || l.origins[normalOrigin(origin)])
		if origin != "" && !listed && !sameOrigin(origin, r.Host) {
			g.refuse(w, r, http.StatusForbidden, refusedOrigin,
				fmt.Sprintf("Origin %q is not this admin listener (%s) nor in admin.allowed_origins", origin, r.Host))
			return
		}
		if safeMethod(r.Method) {
			h.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" && !listed {
			g.refuse(w, r, http.StatusForbidden, refusedCrossSite,
				"Sec-Fetch-Site: cross-site: a page on another site may not change anything here (admin.allowed_origins lists the sites that may)")
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			g.refuse(w, r, http.StatusUnsupportedMediaType, refusedContentType,
				fmt.Sprintf("Content-Type %q: %s requests need Content-Type: application/json", r.Header.Get("Content-Type"), r.Method))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hostAllowed says whether host (the Host header, with or without a port)
// names this listener.
func (l *guardLists) hostAllowed(host string) bool {
	if host == "" || l.anyHost {
		return true // HTTP/1.0 without Host: not a browser
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if net.ParseIP(host) != nil || l.hosts[host] {
		return true
	}
	for _, s := range l.suffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

// sameOrigin: the Origin's host[:port] is the request's Host. The scheme is
// not compared: behind a TLS-terminating proxy the page is https while this
// listener speaks plain HTTP (gorilla/websocket compares the same way).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // "null" (sandboxed frames, file:) and garbage
	}
	return strings.EqualFold(u.Host, host)
}

func (g *adminGuard) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	g.refused.WithLabelValues(reason).Inc()
	if ok, suppressed := g.logs.allow(reason); ok {
		fields := []zap.Field{zap.String("reason", reason), zap.Int("status", status), zap.String("method", r.Method),
			zap.String("path", r.URL.Path), zap.String("host", r.Host), zap.String("origin", r.Header.Get("Origin")),
			zap.String("remote", r.RemoteAddr)}
		if suppressed > 0 {
			fields = append(fields, zap.Int("suppressed", suppressed))
		}
		g.log.Warn("admin: request refused", fields...)
	}
	writeError(w, status, msg)
}

// windowLimiter allows n log lines per key in each window; keys are a
// small fixed set (the refusal reasons).
type windowLimiter struct {
	n      int
	window time.Duration
	mu     sync.Mutex
	keys   map[string]*windowCount
}

type windowCount struct {
	start             time.Time
	lines, suppressed int
}

func newWindowLimiter(n int, window time.Duration) *windowLimiter {
	return &windowLimiter{n: n, window: window, keys: map[string]*windowCount{}}
}

// allow says whether a line for key may be written and how many were
// suppressed since the last one.
func (l *windowLimiter) allow(key string) (bool, int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.keys[key]
	if c == nil {
		c = &windowCount{start: now}
		l.keys[key] = c
	}
	if now.Sub(c.start) >= l.window {
		c.start, c.lines = now, 0
	}
	if c.lines >= l.n {
		c.suppressed++
		return false, 0
	}
	c.lines++
	s := c.suppressed
	c.suppressed = 0
	return true, s
}
