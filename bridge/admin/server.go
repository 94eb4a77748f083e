// Package admin serves the bridge's admin HTTP listener: /metrics,
// /healthz, /readyz, the admin API under /api/v1, the dashboard at /,
// /loglevel and /debug/pprof/. It holds no bridge state: it reads the MQTT
// front end and the rest of the bridge through two small interfaces, Front
// and Bridge (view.go), which bridge.New hands to New.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Options carries what is not configuration.
type Options struct {
	// Logger is the bridge's logger (required). Admin actions (kick,
	// publish) log on it, refusals on its "admin" child, net/http's
	// errors on "admin.http".
	Logger *zap.Logger
	// Level is the logger's level, served at /loglevel when set.
	Level zap.AtomicLevel
	// Version is reported by /api/v1/overview.
	Version string
	// Metrics serves GET /metrics (required).
	Metrics http.Handler
	// Refused counts the requests the guard refuses, by reason
	// (mqtt_bridge_admin_requests_refused_total; required).
	Refused *prometheus.CounterVec
	// MaxPayload is mqtt.max_packet_size: the publish API's payload limit.
	MaxPayload int
}

// Server is the admin HTTP listener. New starts nothing; Run serves until
// its context ends and returns once every goroutine it started has ended.
type Server struct {
	cfg     Config
	opts    Options
	log     *zap.Logger
	front   Front
	br      Bridge
	auth    *apiAuth     // admin.users and admin.tokens; Reload replaces them
	guard   *adminGuard  // Host, Origin, Content-Type checks; Reload replaces its lists
	addr    atomic.Value // string, once listening
	running atomic.Bool
}

// New validates cfg and builds the listener's parts. It starts nothing.
func New(cfg Config, front Front, br Bridge, opts Options) (*Server, error) {
	if opts.Logger == nil || opts.Metrics == nil || opts.Refused == nil || front == nil || br == nil {
		return nil, errors.New("admin: nil logger, metrics handler, refusal counter, front end or bridge")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, opts: opts, log: opts.Logger, front: front, br: br, auth: newAPIAuth(cfg)}
	s.guard = newAdminGuard(cfg, s.log.Named("admin"), opts.Refused)
	return s, nil
}

// Reload applies a reloaded admin section: users, tokens, allowed hosts and
// allowed origins hold from the next request on. The other keys (address,
// timeouts, pprof, publish_allow, publish_retain) apply after a restart; a
// change to the publish settings is logged.
func (s *Server) Reload(c Config) {
	s.auth.set(c)
	s.guard.set(c)
	if !slices.Equal(c.PublishAllow, s.cfg.PublishAllow) || c.PublishRetain != s.cfg.PublishRetain {
		s.log.Warn("reload: admin.publish_allow or admin.publish_retain changed; it applies after a restart")
	}
}

func (s *Server) mux(started time.Time) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.opts.Metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"status\":\"ok\",\"uptime_seconds\":%d}\n", int(time.Since(started).Seconds()))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ready, body := s.br.Readiness()
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	if s.opts.Level != (zap.AtomicLevel{}) {
		// Changing the log level is an admin action: same rule as the API
		// (admin users or tokens; loopback only when none is configured).
		mux.Handle("/loglevel", s.auth.wrap(s.opts.Level))
	}
	if s.cfg.Pprof {
		registerPprof(mux, s.auth)
	}
	return mux
}

// Run serves the admin listener until ctx ends (with admin.address "" it
// only waits for ctx). It returns once the HTTP server and the chart
// sampler have ended.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("admin: Run called twice")
	}
	started := time.Now()
	if s.cfg.Address == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Address, err)
	}
	s.addr.Store(ln.Addr().String())
	mux := s.mux(started)
	a := s.newAPI(started, historyInterval)
	a.register(mux)
	// The chart sampler runs as long as the listener.
	hctx, stopHist := context.WithCancel(ctx)
	histDone := make(chan struct{})
	go func() { defer close(histDone); a.runHistory(hctx) }()
	defer func() { stopHist(); <-histDone }()
	c := s.cfg
	// WriteTimeout also bounds /debug/pprof/profile and /trace: pprof
	// refuses a ?seconds= at or beyond it (raise admin.write_timeout).
	srv := &http.Server{Handler: s.guard.wrap(mux), ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes,
		ErrorLog: zap.NewStdLog(s.log.Named("admin.http"))}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Addr is the listener's address once it listens ("" before).
func (s *Server) Addr() string {
	a, _ := s.addr.Load().(string)
	return a
}
