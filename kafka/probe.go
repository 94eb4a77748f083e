package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// KafkaState is the Prober's verdict on the cluster.
type KafkaState string

// Kafka states (Health.State).
const (
	KafkaUnknown  KafkaState = "unknown"  // no round has finished yet
	KafkaUp       KafkaState = "up"       // a broker answered, and every partition of the probed topics has a leader
	KafkaDegraded KafkaState = "degraded" // a broker answered, but some probed partitions have no leader (or their topic is refused)
	KafkaDown     KafkaState = "down"     // no broker answered a metadata request in time
)

// Probe reasons (Health.Reason): these, and the ErrorKind values
// (KindUnreachable, KindTimeout, KindNotAuthorized, KindAuthentication,
// KindTLS, KindOther) for a
// failed round.
const (
	ReasonOK       = "ok"
	ReasonStarting = "starting"  // no round has finished yet
	ReasonNoLeader = "no_leader" // a probed partition has no leader
)

// ProbeReasons lists every Health.Reason, for metrics that show them all.
var ProbeReasons = []string{ReasonOK, ReasonStarting, ReasonNoLeader, KindUnreachable, KindTimeout, KindNotAuthorized, KindAuthentication, KindTLS, KindOther}

// Probe timing. A stopped broker refuses the connection at once, so it
// shows at the next round (within probeInterval). A hung one (SIGSTOP, a
// black hole) accepts connections and never answers: the round gives up
// after probeBudget, so the verdict changes within probeInterval +
// probeBudget of the hang, 4 s.
const (
	probeInterval = time.Second
	probeRequest  = 2 * time.Second // dial, read and write timeout of one request
	probeBudget   = 3 * time.Second // a round still running after this is a timeout
	maxLeaderless = 20              // Health.Leaderless lists at most this many
)

// Health is a snapshot of the Prober's verdict.
type Health struct {
	State   KafkaState
	Reason  string    // ReasonOK, ReasonStarting, ReasonNoLeader, or the ErrorKind of the failure
	Err     string    // the last round's error ("" when up)
	Since   time.Time // when State and Reason took their current values
	Checked time.Time // when the last round ended (or was given up)
	Latency time.Duration
	Broker  string // the address that answered the last successful round
	Brokers int    // brokers in that answer

	LeaderlessCount int      // probed partitions without a leader
	Leaderless      []string // "topic/partition" of up to 20 of them
	// Topics the cluster does not know. They are not a fault: with
	// auto.create.topics.enable the first record creates them.
	MissingTopics []string
}

// Up reports whether Kafka can take records for every probed topic.
func (h Health) Up() bool { return h.State == KafkaUp }

// metadataFunc sends one metadata request to the broker at addr over conn
// (opening it if nil) and returns the answer and the connection to keep.
type metadataFunc func(conn *sarama.Broker, addr string, topics []string) (*sarama.MetadataResponse, *sarama.Broker, error)

// Prober asks the cluster for metadata every second, with the bridge's own
// TLS and SASL settings, and checks that every partition of the mapped
// topics has a leader. It tells Kafka's liveness apart from traffic: the
// producer notices an outage only when records fail. It keeps one broker
// connection open between rounds and opens another (trying the bootstrap
// servers, then the brokers of the last answer) when that one fails.
type Prober struct {
	addrs    []string
	topics   func() []string
	scfg     *sarama.Config
	log      *zap.Logger
	interval time.Duration
	budget   time.Duration
	metadata metadataFunc

	health  atomic.Pointer[Health]
	setMu   sync.Mutex // orders set: the round and the watchdog may both publish
	started atomic.Bool

	// Round state, owned by the round in flight (one at a time).
	conn  *sarama.Broker
	known []string // broker addresses from the last answer
}

// NewProber prepares a prober of the cluster in cfg for the topics topics
// returns (read every round, so a rule reload applies at once). It starts
// nothing.
func NewProber(cfg Config, topics func() []string, log *zap.Logger) (*Prober, error) {
	if len(cfg.BootstrapServers) == 0 {
		return nil, errors.New("kafka prober: no bootstrap servers")
	}
	scfg, err := cfg.baseConfig()
	if err != nil {
		return nil, fmt.Errorf("kafka prober config: %w", err)
	}
	scfg.ClientID = cfg.ClientID + "-probe"
	scfg.Net.DialTimeout = probeRequest
	scfg.Net.ReadTimeout = probeRequest
	scfg.Net.WriteTimeout = probeRequest
	// A probe must not create the topics it looks at.
	scfg.Metadata.AllowAutoTopicCreation = false
	if err := scfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka prober config: %w", err)
	}
	if topics == nil {
		topics = func() []string { return nil }
	}
	p := &Prober{
		addrs:    slices.Clone(cfg.BootstrapServers),
		topics:   topics,
		scfg:     scfg,
		log:      log.With(zap.String("component", "kafka_probe")),
		interval: probeInterval,
		budget:   probeBudget,
	}
	p.metadata = p.requestMetadata
	p.health.Store(&Health{State: KafkaUnknown, Reason: ReasonStarting, Since: time.Now()})
	return p, nil
}

// Health returns the latest verdict. Before the first round ends it is
// KafkaUnknown with ReasonStarting.
func (p *Prober) Health() Health { return *p.health.Load() }

// Run probes every second until ctx ends, and returns once the round in
// flight (bounded by the request timeouts) has ended and the connection is
// closed. A round that outlives the budget is reported as a timeout while
// it finishes; no second round starts meanwhile.
func (p *Prober) Run(ctx context.Context) {
	if !p.started.CompareAndSwap(false, true) {
		return
	}
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		if p.conn != nil {
			_ = p.conn.Close()
			p.conn = nil
		}
	}()
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	var (
		roundDone chan struct{} // nil: no round in flight
		roundAt   time.Time
		gaveUp    bool
		watchdog  *time.Timer
		expired   <-chan time.Time
	)
	start := func() {
		roundDone, roundAt, gaveUp = make(chan struct{}), time.Now(), false
		done := roundDone
		wg.Go(func() { defer close(done); p.round(ctx, roundAt) })
		watchdog = time.NewTimer(p.budget)
		expired = watchdog.C
	}
	start()
	for {
		select {
		case <-ctx.Done():
			if watchdog != nil {
				watchdog.Stop()
			}
			return
		case <-roundDone:
			roundDone = nil
			watchdog.Stop()
			expired = nil
		case <-expired:
			expired = nil
			if !gaveUp {
				gaveUp = true
				p.set(Health{State: KafkaDown, Reason: KindTimeout, Checked: time.Now(),
					Err: fmt.Sprintf("no metadata answer within %v", p.budget)})
			}
		case <-tick.C:
			if roundDone == nil {
				start()
			}
		}
	}
}

// round asks for metadata and publishes the verdict.
func (p *Prober) round(ctx context.Context, began time.Time) {
	topics := p.topics()
	resp, addr, err := p.ask(ctx, topics)
	now := time.Now()
	if ctx.Err() != nil {
		return // shutting down: an interrupted round says nothing
	}
	if err != nil {
		kind := ErrorKind(err)
		if kind == KindTooLarge || kind == KindInvalidTopic {
			kind = KindOther
		}
		p.set(Health{State: KafkaDown, Reason: kind, Err: err.Error(), Checked: now, Latency: now.Sub(began)})
		return
	}
	h := judge(resp, topics)
	h.Checked, h.Latency, h.Broker = now, now.Sub(began), addr
	p.known = p.known[:0]
	for _, b := range resp.Brokers {
		p.known = append(p.known, b.Addr())
	}
	p.set(h)
}

// ask tries the open connection, then each candidate address once, and
// returns the first answer. It stops between candidates once ctx ends.
func (p *Prober) ask(ctx context.Context, topics []string) (*sarama.MetadataResponse, string, error) {
	var errs []error
	cands := p.addrs
	for _, a := range p.known {
		if !slices.Contains(cands, a) {
			cands = append(slices.Clip(cands), a)
		}
	}
	if p.conn != nil {
		// The kept connection first: it is the broker that answered last.
		addr := p.conn.Addr()
		resp, conn, err := p.metadata(p.conn, addr, topics)
		if err == nil {
			p.conn = conn
			return resp, addr, nil
		}
		_ = p.conn.Close()
		p.conn = nil
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	for _, addr := range cands {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		resp, conn, err := p.metadata(nil, addr, topics)
		if err == nil {
			p.conn = conn
			return resp, addr, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	// Classify by the last error (the usual case: every broker fails the
	// same way); the message keeps them all.
	return nil, "", &probeError{last: errs[len(errs)-1], all: errors.Join(errs...)}
}

// probeError keeps every broker's error in its text and the last one for
// errors.Is/As (ErrorKind).
type probeError struct{ last, all error }

func (e *probeError) Error() string { return "metadata: " + e.all.Error() }
func (e *probeError) Unwrap() error { return e.last }

// requestMetadata is the real metadataFunc.
func (p *Prober) requestMetadata(conn *sarama.Broker, addr string, topics []string) (*sarama.MetadataResponse, *sarama.Broker, error) {
	if conn == nil {
		conn = sarama.NewBroker(addr)
		if err := conn.Open(p.scfg); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
			return nil, nil, err
		}
		// Open connects in the background; Connected waits for it (dial,
		// TLS, ApiVersions, SASL), bounded by the Net timeouts.
		if ok, err := conn.Connected(); !ok || err != nil {
			_ = conn.Close()
			if err == nil {
				err = sarama.ErrNotConnected
			}
			return nil, nil, err
		}
	}
	req := sarama.NewMetadataRequest(p.scfg.Version, topics)
	req.AllowAutoTopicCreation = false
	if len(topics) == 0 {
		// No topics to check: ask for none rather than for all of them
		// (Topics nil means "all" in versions >= 1).
		req.Topics = []string{}
	}
	resp, err := conn.GetMetadata(req)
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return resp, conn, nil
}

// judge turns a metadata answer into a verdict.
func judge(resp *sarama.MetadataResponse, topics []string) Health {
	h := Health{State: KafkaUp, Reason: ReasonOK, Brokers: len(resp.Brokers)}
	var problems []string
	for _, tm := range resp.Topics {
		if !slices.Contains(topics, tm.Name) {
			continue
		}
		switch {
		case errors.Is(tm.Err, sarama.ErrUnknownTopicOrPartition):
			h.MissingTopics = append(h.MissingTopics, tm.Name)
			continue
		case errors.Is(tm.Err, sarama.ErrTopicAuthorizationFailed):
			h.State, h.Reason = KafkaDegraded, KindNotAuthorized
			problems = append(problems, fmt.Sprintf("%s: %v", tm.Name, tm.Err))
			continue
		case tm.Err != sarama.ErrNoError && !errors.Is(tm.Err, sarama.ErrLeaderNotAvailable):
			if h.State == KafkaUp {
				h.State, h.Reason = KafkaDegraded, KindOther
			}
			problems = append(problems, fmt.Sprintf("%s: %v", tm.Name, tm.Err))
			continue
		}
		leaderless := 0
		if len(tm.Partitions) == 0 {
			// The topic is being created: no partition is placed yet.
			leaderless = 1
			h.LeaderlessCount++
			if len(h.Leaderless) < maxLeaderless {
				h.Leaderless = append(h.Leaderless, tm.Name+"/*")
			}
		}
		for _, pm := range tm.Partitions {
			if pm.Leader >= 0 && !errors.Is(pm.Err, sarama.ErrLeaderNotAvailable) {
				continue
			}
			leaderless++
			h.LeaderlessCount++
			if len(h.Leaderless) < maxLeaderless {
				h.Leaderless = append(h.Leaderless, fmt.Sprintf("%s/%d", tm.Name, pm.ID))
			}
		}
		if leaderless > 0 {
			problems = append(problems, fmt.Sprintf("%s: %d of %d partitions without a leader", tm.Name, leaderless, max(len(tm.Partitions), 1)))
			if h.State == KafkaUp {
				h.State, h.Reason = KafkaDegraded, ReasonNoLeader
			}
		}
	}
	slices.Sort(h.MissingTopics)
	if len(problems) > 0 {
		h.Err = fmt.Sprint(problems)
	}
	return h
}

// set publishes h, keeping Since while the state and reason stay the same,
// and logs each change once.
func (p *Prober) set(h Health) {
	p.setMu.Lock()
	defer p.setMu.Unlock()
	old := p.health.Load()
	if old.State == h.State && old.Reason == h.Reason {
		h.Since = old.Since
		p.health.Store(&h)
		return
	}
	h.Since = h.Checked
	p.health.Store(&h)
	fields := []zap.Field{zap.String("state", string(h.State)), zap.String("reason", h.Reason),
		zap.String("was", string(old.State)), zap.Duration("latency", h.Latency)}
	switch h.State {
	case KafkaUp:
		p.log.Info("kafka reachable", append(fields, zap.String("broker", h.Broker), zap.Int("brokers", h.Brokers))...)
	default:
		p.log.Warn("kafka not healthy", append(fields, zap.String("error", h.Err), zap.Strings("leaderless", h.Leaderless))...)
	}
}
