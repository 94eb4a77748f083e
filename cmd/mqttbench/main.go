// Command mqttbench loads an MQTT broker or bridge and measures it, optionally
// end to end into Kafka. Modes: pub, conn, sub, kafka-produce, forward. See
// README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/iotbridge/mqtt-kafka-bridge/cmd/mqttbench/benchkit"
)

const usage = `usage: mqttbench <mode> [flags]

modes:
  pub            N publishing connections, MQTT 3.1.1 or 5 (open loop), optionally read back from Kafka
  conn           N idle connections; connect rate, target memory per connection
  sub            N subscribers; delivery rate and latency
  kafka-produce  bare sarama async producer: the Kafka limit
  forward        the do-it-yourself route: paho subscriber -> sarama, MQTT ack after Kafka's (runs until SIGTERM)

mqttbench <mode> --help lists the mode's flags.
`

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if os.Getenv("GOGC") == "" {
		// The load generator shares the machine with what it measures:
		// fewer GC cycles leave more CPU to the target (its heap is small,
		// so this costs a few MB). GOGC in the environment overrides it.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, jsonPath, err := run(ctx, os.Args[1], os.Args[2:])
	if errors.Is(err, pflag.ErrHelp) {
		os.Exit(0)
	}
	if sum != nil {
		sum.WriteText(os.Stdout)
		if jsonPath != "" {
			if jerr := sum.WriteJSONFile(jsonPath); jerr != nil && err == nil {
				err = jerr
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mqttbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func run(ctx context.Context, mode string, args []string) (*benchkit.Summary, string, error) {
	fs := pflag.NewFlagSet("mqttbench "+mode, pflag.ContinueOnError)
	jsonPath := fs.String("json", "", "also write the summary as JSON to this file")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	addr := fs.String("addr", "127.0.0.1:1883", "MQTT broker host:port")
	conns := fs.Int("conns", 10, "connections")
	srcIPs := fs.String("source-ips", "", "local addresses, e.g. 127.0.0.1-127.0.0.8 (round robin; past the ephemeral port range)")
	prefix := fs.String("client-prefix", "", "client id prefix (the connection number is appended)")
	keepAlive := fs.Duration("keepalive", 60*time.Second, "MQTT keepalive")
	connectRate := fs.Float64("connect-rate", 0, "connections per second, 0 = as fast as possible")
	duration := fs.Duration("duration", 10*time.Second, "measured duration (pub, sub)")
	partitions := fs.Int32("kafka-partitions", 0, "create the Kafka topic with this many partitions if it does not exist (0: do not create)")
	var progressOut io.Writer = os.Stderr

	var run func() (*benchkit.Summary, error)
	switch mode {
	case "pub":
		version := fs.Int("mqtt-version", 3, "MQTT version: 3 (3.1.1, paho.mqtt.golang) or 5 (paho.golang; in flight at most min(--inflight, the server's Receive Maximum))")
		rate := fs.Float64("rate", 0, "messages/s per connection, 0 = unlimited (open loop)")
		qos := fs.Uint8("qos", 1, "QoS 0, 1 or 2")
		size := fs.Int("size", 128, "payload bytes (header: 20 + client id length)")
		topic := fs.String("topic", "devices/bench%d/telemetry", "topic pattern, %d = connection number")
		inflight := fs.Int("inflight", 32, "unacked publishes per connection")
		warmup := fs.Duration("warmup", 2*time.Second, "published, not measured")
		ackTimeout := fs.Duration("ack-timeout", 30*time.Second, "a publish not acked in time is an error")
		bootstrap := fs.StringSlice("kafka-bootstrap", nil, "Kafka bootstrap servers; with --kafka-topic, read back and account")
		ktopic := fs.String("kafka-topic", "", "Kafka topic the bridge writes to")
		drain := fs.Duration("drain-idle", 10*time.Second, "after publishing, wait for Kafka until nothing new lands for this long")
		drainMax := fs.Duration("drain-max", 0, "after publishing, wait for the read-back at most this long in all (0: no bound); what is outstanding then counts as lost")
		subAddr := fs.String("sub-addr", "", "read back by MQTT subscribers at this host:port instead of Kafka (e.g. another cluster replica): publish -> deliver latency, loss, duplicates, order")
		subConns := fs.Int("sub-conns", 1, "subscribers with --sub-addr; subscriber i takes the topics of publishers i, i+N, ... (needs %d in --topic when above 1)")
		subQoS := fs.Uint8("sub-qos", 1, "subscription QoS with --sub-addr")
		subPersistent := fs.Bool("sub-persistent", true, "subscribers with clean session false (persistent sessions)")
		subPrefix := fs.String("sub-client-prefix", "", "subscriber client id prefix (default: --client-prefix + \"sub\")")
		subSettle := fs.Duration("sub-settle", 2*time.Second, "wait after the subscribers' SUBACKs before publishing (a cluster's other replicas learn the subscriptions from the log)")
		stagger := fs.Bool("stagger", false, "start each connection at a random offset within 1/rate (devices not in step); default: all in step, a burst of --conns messages per 1/rate")
		run = func() (*benchkit.Summary, error) {
			ips, err := benchkit.ParseSourceIPs(*srcIPs)
			if err != nil {
				return nil, err
			}
			var reader benchkit.Reader // an interface: never a typed nil
			switch {
			case *subAddr != "" && *ktopic != "":
				return nil, errors.New("--sub-addr and --kafka-topic: one read-back at a time")
			case len(*bootstrap) > 0 && *ktopic != "":
				if *partitions > 0 {
					if err := benchkit.EnsureTopic(*bootstrap, *ktopic, *partitions); err != nil {
						return nil, err
					}
				}
				kr, err := benchkit.OpenKafkaReader(*bootstrap, *ktopic)
				if err != nil {
					return nil, err
				}
				reader = kr
			case *subAddr != "":
				topics := []string{*topic}
				if strings.Contains(*topic, "%d") {
					topics = make([]string, *conns)
					for i := range topics {
						topics[i] = fmt.Sprintf(*topic, i)
					}
				}
				sp := *subPrefix
				if sp == "" {
					sp = *prefix + "sub"
					if *prefix == "" {
						sp = "benchsub" // the publishers' default prefix is "bench"
					}
				}
				mr, err := benchkit.OpenMQTTReader(ctx, benchkit.MQTTReaderConfig{
					Addr: *subAddr, Conns: *subConns, Topics: topics, QoS: *subQoS, Persistent: *subPersistent,
					ClientPrefix: sp, SourceIPs: ips, KeepAlive: *keepAlive, Settle: *subSettle,
				})
				if err != nil {
					return nil, err
				}
				reader = mr
			}
			return benchkit.RunPub(ctx, benchkit.PubConfig{
				Addr: *addr, MQTTVersion: *version, Conns: *conns, Rate: *rate, QoS: *qos, Size: *size, Topic: *topic,
				ClientPrefix: *prefix, Inflight: *inflight, Duration: *duration, Warmup: *warmup,
				SourceIPs: ips, KeepAlive: *keepAlive, AckTimeout: *ackTimeout, ConnectRate: *connectRate,
				Stagger: *stagger, DrainMax: *drainMax,
			}, reader, *drain, progressOut)
		}
	case "conn":
		hold := fs.Duration("hold", 5*time.Second, "keep all connections open this long before reading RSS")
		pid := fs.Int("pid", 0, "target pid: VmRSS before and after gives memory per connection")
		persistent := fs.Float64("persistent-fraction", 0, "fraction of connections with clean session false")
		reconnect := fs.Bool("reconnect", false, "after --hold, drop all and reconnect; reports recovery time")
		within := fs.Duration("reconnect-within", 5*time.Second, "spread the reconnects over this time")
		run = func() (*benchkit.Summary, error) {
			ips, err := benchkit.ParseSourceIPs(*srcIPs)
			if err != nil {
				return nil, err
			}
			return benchkit.RunConn(ctx, benchkit.ConnConfig{
				Addr: *addr, Conns: *conns, ConnectRate: *connectRate, KeepAlive: *keepAlive, Hold: *hold,
				PersistentFraction: *persistent, ClientPrefix: *prefix, SourceIPs: ips, PID: *pid,
				Reconnect: *reconnect, ReconnectWithin: *within,
			}, progressOut)
		}
	case "sub":
		filter := fs.String("filter", "devices/+/telemetry", "topic filter")
		qos := fs.Uint8("qos", 1, "subscription QoS")
		run = func() (*benchkit.Summary, error) {
			ips, err := benchkit.ParseSourceIPs(*srcIPs)
			if err != nil {
				return nil, err
			}
			return benchkit.RunSub(ctx, benchkit.SubConfig{
				Addr: *addr, Conns: *conns, Filter: *filter, QoS: *qos, Duration: *duration,
				ClientPrefix: *prefix, SourceIPs: ips,
			}, progressOut)
		}
	case "kafka-produce":
		bootstrap := fs.StringSlice("kafka-bootstrap", []string{"127.0.0.1:9092"}, "Kafka bootstrap servers")
		ktopic := fs.String("kafka-topic", "", "topic to write")
		records := fs.Int("records", 100000, "records to write")
		size := fs.Int("size", 128, "record value bytes")
		keys := fs.Int("keys", 20, "distinct keys")
		comp := fs.String("compression", "lz4", "none | gzip | snappy | lz4 | zstd")
		acks := fs.String("acks", "all", "all | 1 | 0")
		idem := fs.Bool("idempotent", true, "idempotent producer (one request in flight), as the bridge")
		linger := fs.Duration("linger", 5*time.Millisecond, "sarama Flush.Frequency (the bridge's kafka.producer.linger_ms)")
		window := fs.Int("inflight", 0, "records awaiting Kafka's ack at most (0 = unlimited); conns x inflight of a pub run gives the same window as the devices")
		producers := fs.Int("producers", 1, "sarama AsyncProducers, each with its own client, each owning a fixed share of the partitions (key -> partition -> producer)")
		maxOpen := fs.Int("max-open-requests", 0, "sarama Net.MaxOpenRequests when not idempotent (0: sarama's default, 5)")
		run = func() (*benchkit.Summary, error) {
			if *ktopic == "" {
				return nil, errors.New("--kafka-topic is required")
			}
			if *partitions > 0 {
				if err := benchkit.EnsureTopic(*bootstrap, *ktopic, *partitions); err != nil {
					return nil, err
				}
			}
			return benchkit.RunProduce(ctx, benchkit.ProduceConfig{
				Bootstrap: *bootstrap, Topic: *ktopic, Records: *records, Size: *size, Keys: *keys,
				Compression: *comp, Acks: *acks, Idempotent: *idem, Inflight: *window, Linger: *linger,
				Producers: *producers, MaxOpenRequests: *maxOpen,
			}, progressOut)
		}
	case "forward":
		bootstrap := fs.StringSlice("kafka-bootstrap", []string{"127.0.0.1:9092"}, "Kafka bootstrap servers")
		ktopic := fs.String("kafka-topic", "", "topic to write (key: the MQTT topic's last level)")
		filter := fs.String("filter", "bench/#", "MQTT subscription (QoS 1)")
		clientID := fs.String("client-id", "mqttbench-forward", "MQTT client id and Kafka client.id")
		linger := fs.Duration("linger", 5*time.Millisecond, "sarama Flush.Frequency (linger.ms)")
		maxOpen := fs.Int("max-open-requests", 5, "sarama Net.MaxOpenRequests (max.in.flight.requests.per.connection); not idempotent")
		run = func() (*benchkit.Summary, error) {
			if *ktopic == "" {
				return nil, errors.New("--kafka-topic is required")
			}
			if *partitions > 0 {
				if err := benchkit.EnsureTopic(*bootstrap, *ktopic, *partitions); err != nil {
					return nil, err
				}
			}
			return benchkit.RunForward(ctx, benchkit.ForwardConfig{
				Addr: *addr, ClientID: *clientID, Filter: *filter, Bootstrap: *bootstrap, Topic: *ktopic,
				Linger: *linger, MaxOpenRequests: *maxOpen,
			}, progressOut)
		}
	default:
		fmt.Fprint(os.Stderr, usage)
		return nil, "", fmt.Errorf("unknown mode %q", mode)
	}
	if err := fs.Parse(args); err != nil {
		return nil, "", err
	}
	if *quiet {
		progressOut = nil
	}
	sum, err := run()
	return sum, *jsonPath, err
}
