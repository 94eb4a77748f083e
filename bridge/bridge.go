// Package bridge wires the MQTT front end, the mapping rules and Kafka
// together and owns the lifecycle, health and metrics. It is the only package
// that imports mqttfront, mapping and kafka.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge/admin"
	"github.com/iotbridge/mqtt-kafka-bridge/cluster"
	"github.com/iotbridge/mqtt-kafka-bridge/kafka"
	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// Options carries what is not configuration.
type Options struct {
	Logger     *zap.Logger     // required
	Level      zap.AtomicLevel // the logger's level, changed through the admin endpoint; optional
	Version    string
	ConfigPath string   // for reload; "" = built-in defaults
	Overrides  []string // --set values, re-applied on reload
}

// Bridge is one running MQTT-to-Kafka bridge.
type Bridge struct {
	cfg      Config
	opts     Options
	log      *zap.Logger
	rules    atomic.Pointer[mapping.Rules]
	metrics  *metrics
	front    *mqttfront.Server
	producer *kafka.Producer
	consumer *kafka.Consumer // nil without downlink rules
	probe    *kafka.Prober   // Kafka's liveness, traffic or none (parts.go)
	dialed   atomic.Bool     // the producer has connected once (parts.go)
	up       *uplink
	down     *downlink
	cluster  *cluster.Node // nil unless cluster.enabled (cluster.go)
	// readBarrier is the downlink's wait for the cluster's sessions log
	// (cluster.Router.Synced); nil unless cluster.enabled.
	readBarrier func(context.Context) error
	bg          sync.WaitGroup // dead-letter hand-offs
	adminHTTP   *admin.Server  // the admin listener (admin/); Reload hands it the admin section
	running     atomic.Bool
}

// New validates cfg and builds every part. It starts nothing.
func New(cfg Config, opts Options) (*Bridge, error) {
	if opts.Logger == nil {
		return nil, errors.New("bridge: nil logger")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rules, err := mapping.Compile(cfg.Mapping)
	if err != nil {
		return nil, err
	}
	b := &Bridge{cfg: cfg, opts: opts, log: opts.Logger, metrics: newMetrics()}
	b.rules.Store(rules)
	b.probe, err = kafka.NewProber(cfg.Kafka, b.probedTopics, b.log.Named("kafka.probe"))
	if err != nil {
		return nil, err
	}

	b.producer, err = kafka.NewProducer(cfg.Kafka, b.log.Named("kafka.producer"))
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	b.up = &uplink{rules: &b.rules, producer: b.producer, log: b.log.Named("uplink"), metrics: b.metrics, bg: &b.bg}
	b.producer.OnPermanentFailure(b.up.deadLetterSpooled)
	b.producer.SetFsyncHook(func(d time.Duration) { b.metrics.fsyncLatency.Observe(d.Seconds()) })

	b.front, err = mqttfront.New(cfg.MQTT, b.up, b.log.Named("mqtt"))
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	if err := b.newCluster(); err != nil {
		return nil, err
	}
	b.down = &downlink{rules: &b.rules, front: b.front, producer: b.producer, log: b.log.Named("downlink"), metrics: b.metrics,
		failpoint: failpoint(os.Getenv, b.log, killSelf), barrier: b.readBarrier}
	if topics := rules.DownlinkTopics(); len(topics) > 0 {
		kcfg, err := consumerKafkaConfig(cfg)
		if err != nil {
			return nil, err
		}
		b.consumer, err = kafka.NewConsumer(kcfg, topics, b.down, b.log.Named("kafka.consumer"))
		if err != nil {
			return nil, fmt.Errorf("kafka consumer: %w", err)
		}
	}
	b.metrics.reg.MustRegister(&frontCollector{stats: b.front.Stats, extra: b.collectKafka})
	b.adminHTTP, err = admin.New(cfg.Admin, b.adminFront(), adminView{b}, admin.Options{Logger: b.log, Level: opts.Level,
		Version: opts.Version, Metrics: promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{}),
		Refused: b.metrics.adminRefused, MaxPayload: cfg.MQTT.MaxPacketSize})
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	return b, nil
}

// Run serves until ctx ends, then shuts down in dependency order: the
// downlink consumer first (no new commands), then the MQTT front end (no new
// publishes; sessions persisted), then the cluster node in cluster mode
// (retained records in flight completed), then the producer (in-flight
// records flushed). It returns once every goroutine it started has ended. A
// cluster node refused at start (topic settings, a replica id in use) ends
// Run with its error.
func (b *Bridge) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("bridge: Run called twice")
	}

	prodCtx, stopProd := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProd()
	frontCtx, stopFront := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFront()
	consCtx, stopCons := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCons()
	// A publish blocked on a full producer window gives up once the bridge
	// stops; the device then gets no ack and resends.
	b.up.stop = frontCtx
	b.up.dlqCtx = prodCtx

	prodDone := make(chan error, 1)
	go func() { prodDone <- b.producer.Run(prodCtx) }()
	// The probe feeds health only; it runs until every other part stopped.
	probeCtx, stopProbe := context.WithCancel(context.WithoutCancel(ctx))
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); b.probe.Run(probeCtx) }()
	defer func() { stopProbe(); <-probeDone }()
	// The cluster node joins while the front end listens: until it caught
	// up, CONNECT is refused (Admission) and /readyz says why.
	clusterCtx, stopCluster := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCluster()
	clusterDone := b.runCluster(clusterCtx)
	frontDone := make(chan error, 1)
	go func() { frontDone <- b.front.Run(frontCtx) }()
	adminDone := make(chan error, 1)
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	go func() { adminDone <- b.adminHTTP.Run(adminCtx) }()

	var errs []error
	consDone := make(chan error, 1)
	consStarted := false
	// The consumer starts only once devices can connect (and, in cluster
	// mode, the replica caught up), so commands are not consumed before
	// anyone can receive them.
	select {
	case <-b.front.Ready():
		b.log.Info("mqtt listeners up", zap.Any("addresses", b.addrs()))
		if b.consumer != nil {
			consStarted = true
			go func() {
				if !b.waitClusterReady(consCtx) {
					consDone <- nil
					return
				}
				consDone <- b.consumer.Run(consCtx)
			}()
		}
	case err := <-frontDone:
		frontDone <- err
	case err := <-clusterDone:
		clusterDone <- err
	case <-ctx.Done():
	}

	// Wait for the end: the caller's ctx, or a part failing on its own.
	select {
	case <-ctx.Done():
	case err := <-frontDone:
		frontDone <- err
	case err := <-prodDone:
		prodDone <- err
	case err := <-adminDone:
		adminDone <- err
	case err := <-consDone:
		consDone <- err
	case err := <-clusterDone:
		clusterDone <- err
	}
	b.log.Info("shutting down")
	stopCons()
	if consStarted {
		if err := <-consDone; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("kafka consumer: %w", err))
		}
	}
	stopFront()
	if err := <-frontDone; err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, fmt.Errorf("mqtt: %w", err))
	}
	// The node stops after the front end, whose retained publishes it
	// completes.
	stopCluster()
	if clusterDone != nil {
		if err := <-clusterDone; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err) // "cluster: ..." already
		}
	}
	b.bg.Wait()
	stopProd()
	if err := <-prodDone; err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, fmt.Errorf("kafka producer: %w", err))
	}
	stopAdmin()
	if err := <-adminDone; err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, fmt.Errorf("admin: %w", err))
	}
	b.log.Info("stopped")
	return errors.Join(errs...)
}

// probedTopics are the Kafka topics the probe checks for leaders: the
// literal uplink topics, the downlink topics and the dead-letter topic of
// the current rules (templated topics are known only per message).
func (b *Bridge) probedTopics() []string {
	r := b.rules.Load()
	out := r.UplinkTopics()
	for _, t := range append(r.DownlinkTopics(), r.DeadLetterTopic()) {
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (b *Bridge) addrs() map[string]string {
	out := map[string]string{}
	for _, l := range []string{"tcp", "tls", "ws", "wss"} {
		if a := b.front.Addr(l); a != nil {
			out[l] = a.String()
		}
	}
	return out
}

// AdminAddr is the admin listener's address once it listens ("" before).
func (b *Bridge) AdminAddr() string { return b.adminHTTP.Addr() }

// Front is the MQTT front end (tests use its listener addresses).
func (b *Bridge) Front() *mqttfront.Server { return b.front }
