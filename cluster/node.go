package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// Node is this replica's membership in the cluster: the cache, the
// internal topics, the replica registry and the session claims. New starts
// nothing; Run does everything and returns when all it started is done.
type Node struct {
	cfg         Config
	id          string
	incarnation uint64
	brokers     []string
	sc          *sarama.Config
	dataDir     string
	log         *zap.Logger

	claims   *Claims
	registry *Registry
	retained *Retained
	router   *Router // nil unless NewRouter (router.go)
	janitor  *Janitor
	ready    chan struct{}
	runOnce  sync.Once

	state  atomic.Int32             // a State, as Run moves on
	tables atomic.Pointer[[]*Table] // once Run built them, for Stats
	// cancelRun stops Run's goroutines (crash, failpoint.go).
	cancelRun atomic.Pointer[context.CancelFunc]
}

// New validates cfg and builds a node. sc carries the connection settings
// (kafka.Config.SaramaConfig); New copies what it changes. dataDir holds
// cluster.db.
func New(cfg Config, brokers []string, sc *sarama.Config, dataDir string, log *zap.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dataDir == "" {
		return nil, errors.New("cluster.enabled: needs mqtt.data_dir")
	}
	id, err := cfg.ResolvedReplicaID()
	if err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("incarnation: %w", err)
	}
	inc := binary.BigEndian.Uint64(b[:])
	c := *sc
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Retry.Max = 10
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Flush.Frequency = 0
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	log = log.With(zap.String("replica_id", id))
	n := &Node{cfg: cfg, id: id, incarnation: inc, brokers: brokers, sc: &c, dataDir: dataDir, log: log, ready: make(chan struct{})}
	n.claims = newClaims(id, inc, cfg.sessionsTopic(), 0)
	n.claims.log = log
	n.registry = newRegistry(id, inc, cfg.replicasTopic(), cfg.HeartbeatInterval, cfg.ReplicaTimeout, log)
	n.retained = newRetained(cfg.retainedTopic(), log)
	n.janitor = newJanitor(cfg, id, inc, n.claims, n.registry, log)
	n.janitor.crash = n.crash
	if fp := envFailpoint(); fp != nil {
		n.janitor.failpoint.Store(&fp)
	}
	c.Consumer.Group.Session.Timeout = cfg.JanitorSessionTimeout
	c.Consumer.Group.Heartbeat.Interval = cfg.JanitorSessionTimeout / 3
	return n, nil
}

// ID is this replica's id.
func (n *Node) ID() string { return n.id }

// Claims decides session ownership; usable once Ready.
func (n *Node) Claims() *Claims { return n.claims }

// Registry knows the replicas; usable once Ready.
func (n *Node) Registry() *Registry { return n.registry }

// Retained is the retained-messages table (mqttfront.RetainedStore); Attach
// its target before Run.
func (n *Node) Retained() *Retained { return n.retained }

// Janitor takes the janitor role when Kafka elects this replica; Attach
// its front end before Run.
func (n *Node) Janitor() *Janitor { return n.janitor }

// Ready is closed once the topics are verified, the replica id is known to
// be unique and every table has caught up with the high-water marks seen
// at start. Until then the replica must refuse CONNECT (v5 0x88, v3 0x03)
// and /readyz says not ready.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Run joins the cluster and stays until ctx ends. A start refused
// (topic settings, duplicate replica id) returns its error at once.
func (n *Node) Run(ctx context.Context) error {
	err := errors.New("cluster: Run called twice")
	n.runOnce.Do(func() { err = n.run(ctx) })
	return err
}

func (n *Node) run(ctx context.Context) error {
	defer n.state.Store(int32(StateStopped))
	n.state.Store(int32(StateStarting))
	c, err := openCache(filepath.Join(n.dataDir, "cluster.db"))
	if err != nil {
		return err
	}
	defer c.Close()
	client, err := sarama.NewClient(n.brokers, n.sc)
	if err != nil {
		return fmt.Errorf("cluster: kafka client: %w", err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("cluster: kafka admin: %w", err)
	}
	// Closing the admin would close the shared client; it holds nothing
	// else.
	infos, err := ensureTopics(ctx, admin, c, int16(n.cfg.ReplicationFactor), n.cfg.specs(n.id))
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		return fmt.Errorf("cluster: producer: %w", err)
	}
	defer producer.Close()
	defer n.claims.stopWrites() // before the producer closes

	retainedProducer, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return fmt.Errorf("cluster: retained producer: %w", err)
	}

	st, rt, ret := n.cfg.sessionsTopic(), n.cfg.replicasTopic(), n.cfg.retainedTopic()
	n.claims.partitions = infos[st].partitions
	n.claims.producer = producer
	n.claims.table = newTable("sessions", st, infos[st], c, n.claims, n.log)
	n.registry.producer = producer
	n.registry.table = newTable("replicas", rt, infos[rt], c, n.registry, n.log)
	n.retained.table = newTable("retained", ret, infos[ret], c, n.retained, n.log)
	tables := []*Table{n.claims.table, n.registry.table, n.retained.table}
	n.tables.Store(&tables)
	// Run returns only after every retained record in flight got its
	// completion: nothing waits on a record that will never be acked.
	defer n.retained.start(retainedProducer, infos[ret].partitions)()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.cancelRun.Store(&cancel)
	errs := make(chan error, len(tables))
	var wg sync.WaitGroup
	for _, t := range tables {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.Run(runCtx, client); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.claims.repairLoop(runCtx)
	}()
	if n.router != nil {
		// Routing: copies out, and this replica's inbox once Ready.
		wg.Add(1)
		go func() {
			defer wg.Done()
			inbox := n.cfg.inboxTopic(n.id)
			n.router.run(runCtx, c, inbox, infos[inbox])
		}()
	}
	started := time.Now()
	n.state.Store(int32(StateCheckingID))
	err = n.registry.start(runCtx, started)
	if err == nil {
		n.state.Store(int32(StateCatchingUp))
		err = n.waitCaughtUp(runCtx, tables)
	}
	if err == nil {
		n.log.Info("cluster: joined", zap.Uint64("incarnation", n.incarnation), zap.Duration("catch_up", time.Since(started)))
		n.state.Store(int32(StateReady))
		close(n.ready)
		if n.janitor.wills != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.janitor.run(runCtx, client)
			}()
		}
		n.registry.heartbeat(runCtx, started)
	}
	cancel()
	wg.Wait()
	close(errs)
	if tErr := <-errs; tErr != nil {
		return fmt.Errorf("cluster: %w", tErr)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

func (n *Node) waitCaughtUp(ctx context.Context, tables []*Table) error {
	for _, t := range tables {
		select {
		case <-t.CaughtUp():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
