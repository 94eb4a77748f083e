// Package mqttfront is the bridge's MQTT 3.1/3.1.1/5.0 broker front end:
// listeners, connections, sessions, QoS flows, subscriptions, retained
// messages, wills, and the Sink through which every inbound publish reaches
// the bridge before it is acknowledged. See README.md for the design.
package mqttfront

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// Sink receives every inbound PUBLISH that passed validation and ACL.
// For QoS 1/2, done must be called exactly once, from any goroutine, when the
// message is durable (nil) or has failed (err: one of the Sink errors
// ErrQuotaExceeded, ErrNotAuthorized, ErrTopicInvalid, ErrTooLarge,
// ErrUnavailable, wrapped or not, selects the v5 reason code; any other error
// is 0x80, see sinkerr.go). For QoS 0 done is nil. Submit may block to push back on
// the connection (the reader stops reading while it blocks). done must not
// block.
type Sink interface {
	Submit(m *Message, done func(err error))
}

// Authenticator checks a client's credentials at CONNECT.
type Authenticator interface {
	Authenticate(ctx context.Context, c auth.Credentials) (auth.Identity, error)
}

// Authorizer decides whether a client may publish to a topic or subscribe to
// a filter.
type Authorizer interface {
	Allow(action auth.Action, username, clientID, topicOrFilter string) bool
}

// Errors returned by the server.
var (
	// ErrServerClosed is given to Publish completions after shutdown began.
	ErrServerClosed = errors.New("mqtt server closed")
	// ErrQueueFull is given to a Publish completion when a matching
	// session's queue is at max_queued_messages or max_session_queue_bytes.
	ErrQueueFull = fmt.Errorf("session queue full: %w", ErrQuotaExceeded)
	// ErrAlreadyRunning is returned by a second call to Run.
	ErrAlreadyRunning = errors.New("mqtt server: Run called twice")
)

type authPair struct {
	a   Authenticator
	acl Authorizer
	// open: acl allows everything (nil, or no rules and no_match allow),
	// so the per-delivery check is skipped.
	open bool
}

// allowsAller is implemented by an Authorizer that can tell it allows
// everything (auth.ACL).
type allowsAller interface{ AllowsAll() bool }

func newAuthPair(a Authenticator, acl Authorizer) *authPair {
	p := &authPair{a: a, acl: acl, open: acl == nil}
	if aa, ok := acl.(allowsAller); ok && aa.AllowsAll() {
		p.open = true
	}
	return p
}

// Server is the broker. Create it with New and start it with Run.
type Server struct {
	cfg  Config
	sink Sink
	log  *zap.Logger
	// claimer makes sessions cluster-wide; nil on one replica
	// (cluster_sessions.go). Set before Run.
	claimer SessionClaimer
	// clusterRouting: the remote router and the inbox marks; its router
	// is nil on one replica (cluster_routing.go).
	clusterRouting
	// logRate limits per-client log lines (lograte.go).
	logRate *logLimiter
	// limitLog limits the "limit reached" lines, per limit (limits.go).
	limitLog *logLimiter

	authz atomic.Pointer[authPair]
	// backoff refuses addresses with too many failed password checks; nil
	// when off. Kept across SetAuth, so a reload does not forget it.
	backoff *auth.Backoff

	// lifecycle
	runOnce  atomic.Bool
	runMu    sync.Mutex // guards running, wg.Add
	running  bool
	wg       sync.WaitGroup
	quit     chan struct{}
	ready    chan struct{}
	closing  atomic.Bool
	started  time.Time
	addrMu   sync.Mutex
	addrs    map[string]net.Addr
	closers  []func()
	store    *store.Store
	sys      sysState
	stats    counters
	shareMu  sync.Mutex
	shareRR  map[string]uint32
	matchBuf sync.Pool // *[]topics.Sub

	// mu guards sessions and conns. Lock order: Server.mu -> session.mu ->
	// conn.wmu (see README.md).
	mu       sync.RWMutex
	sessions map[string]*session
	conns    map[*conn]struct{}
	wills    map[string]*session // sessions with a delayed will pending
	expiring map[string]*session // offline sessions with a finite expiry

	index    *topics.Index
	retained *topics.Retained[*Message]
	// retainMu makes a retained set or clear and its byte count one step;
	// retainedBytes is msgSize summed over the retained messages.
	retainMu      sync.Mutex
	retainedBytes int64

	// clusterRetained holds the cluster-mode hooks of cluster_retained.go;
	// nil without clustering.
	clusterRetained
}

// New validates cfg and builds a server. It opens nothing and starts
// nothing.
func New(cfg Config, sink Sink, log *zap.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("mqtt: nil sink")
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{
		cfg:      cfg,
		sink:     sink,
		log:      log,
		logRate:  newLogLimiter(logRateLines, logRateWindow, logRateKeys),
		limitLog: newLogLimiter(limitLogLines, limitLogWindow, int(numLimits)),
		quit:     make(chan struct{}),
		ready:    make(chan struct{}),
		addrs:    map[string]net.Addr{},
		shareRR:  map[string]uint32{},
		sessions: map[string]*session{},
		conns:    map[*conn]struct{}{},
		wills:    map[string]*session{},
		expiring: map[string]*session{},
		index:    topics.NewIndex(),
		retained: topics.NewRetained[*Message](),
	}
	s.matchBuf.New = func() any { b := make([]topics.Sub, 0, 16); return &b }
	a, acl, err := NewAuth(cfg.Auth)
	if err != nil {
		return nil, err
	}
	s.authz.Store(newAuthPair(a, acl))
	if s.backoff, err = auth.NewBackoff(cfg.Auth.FailureBackoff); err != nil {
		return nil, fmt.Errorf("mqtt.auth: %w", err)
	}
	return s, nil
}

// NewAuth builds the authenticator (users) and the authorizer (ACL) of an
// mqtt.auth section. New installs what it builds; a reload builds with it,
// checks the rest of its configuration, then installs the pair with
// SetAuth. Errors name the key (mqtt.auth, mqtt.auth.acl).
func NewAuth(c auth.Config) (*auth.Static, *auth.ACL, error) {
	a, err := auth.NewStatic(c)
	if err != nil {
		return nil, nil, fmt.Errorf("mqtt.auth: %w", err)
	}
	acl, err := auth.NewACL(c.ACL)
	if err != nil {
		return nil, nil, fmt.Errorf("mqtt.auth.acl: %w", err)
	}
	return a, acl, nil
}

// SetAuth swaps the authenticator and authorizer atomically; connected
// clients stay connected, new CONNECTs and later publishes, subscribes and
// deliveries use the new ones: every session's cache of delivery decisions
// is emptied at its next check (recvacl.go). Subscriptions already granted
// stay; what they deliver is checked per message. A nil acl allows
// everything.
func (s *Server) SetAuth(a Authenticator, acl Authorizer) {
	s.authz.Store(newAuthPair(a, acl))
}

func (s *Server) allow(action auth.Action, username, clientID, topic string) bool {
	p := s.authz.Load()
	if p.acl == nil {
		return true
	}
	return p.acl.Allow(action, username, clientID, topic)
}

// Ready is closed once every listener accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound address of listener "tcp", "tls", "ws" or "wss",
// or nil when it is not listening.
func (s *Server) Addr(listener string) net.Addr {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addrs[listener]
}

// goFunc runs f in a goroutine counted by s.wg, only while the server runs.
func (s *Server) goFunc(f func()) bool {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if !s.running {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// Run opens the store and the listeners, serves until ctx is done, then
// shuts down gracefully and returns when every goroutine has ended.
func (s *Server) Run(ctx context.Context) error {
	if !s.runOnce.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	s.started = time.Now()
	if s.cfg.DataDir != "" {
		if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("mqtt.data_dir: %w", err)
		}
		st, err := store.OpenOptions(filepath.Join(s.cfg.DataDir, "mqtt.db"), s.log.Named("store"), storeOptions(s.cfg.Store))
		if err != nil {
			return fmt.Errorf("open mqtt store: %w", err)
		}
		s.mu.Lock() // Stats reads it
		s.store = st
		s.mu.Unlock()
		if err := s.restore(); err != nil {
			_ = st.Close()
			return fmt.Errorf("restore mqtt state: %w", err)
		}
	}
	if s.cfg.Auth.AllowAnonymous {
		s.log.Warn("mqtt: anonymous clients are allowed (mqtt.auth.allow_anonymous=true)")
	}
	s.runMu.Lock()
	s.running = true
	s.runMu.Unlock()
	if err := s.listen(); err != nil {
		s.shutdown()
		return err
	}
	s.goFunc(s.housekeeping)
	close(s.ready)
	s.log.Info("mqtt: listening", zap.Any("addrs", s.addrList()))
	select {
	case <-ctx.Done():
	case <-s.quit:
	}
	s.shutdown()
	return nil
}

func (s *Server) addrList() map[string]string {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	m := map[string]string{}
	for k, v := range s.addrs {
		m[k] = v.String()
	}
	return m
}

// shutdown stops listeners, disconnects every client with v5 0x8B, persists
// state and waits for every goroutine. It is idempotent.
func (s *Server) shutdown() {
	if !s.closing.CompareAndSwap(false, true) {
		return
	}
	s.addrMu.Lock()
	closers := s.closers
	s.closers = nil
	s.addrMu.Unlock()
	for _, c := range closers {
		c()
	}
	close(s.quit)
	// Kick every connection; their readers persist their sessions on exit.
	s.mu.RLock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.RUnlock()
	for _, c := range conns {
		c.kick(ReasonServerShutdown, packets.ServerShuttingDown)
	}
	for _, c := range conns {
		<-c.done
	}
	s.runMu.Lock()
	s.running = false
	s.runMu.Unlock()
	s.wg.Wait()
	if s.store != nil {
		s.persistAll()
		if err := s.store.Close(); err != nil {
			s.log.Error("mqtt: close store", zap.Error(err))
		}
	}
}

// housekeeping runs delayed wills, session expiry and $SYS updates.
func (s *Server) housekeeping() {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastSys := time.Time{}
	for {
		select {
		case <-s.quit:
			return
		case now := <-tick.C:
			s.expireWillsAndSessions(now)
			if s.cfg.SysInterval > 0 && now.Sub(lastSys) >= s.cfg.SysInterval {
				lastSys = now
				s.publishSys(now)
			}
		}
	}
}
