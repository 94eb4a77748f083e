// Command mqtt-kafka-bridge runs the MQTT-to-Kafka bridge.
//
//	mqtt-kafka-bridge [--config FILE] [--set key=value]...   run the bridge
//	mqtt-kafka-bridge version                                print the version
//	mqtt-kafka-bridge check-config [--config FILE]           validate and exit
//	mqtt-kafka-bridge explain [--config FILE] TOPIC          dry-run the uplink rules
//	mqtt-kafka-bridge explain --downlink KAFKA_TOPIC --key K dry-run the downlink rules
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
)

// version is set at build time with -ldflags "-X main.version=..." (make
// build: git describe); binaryVersion falls back to the build info.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, so tests can drive it.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintf(stdout, "mqtt-kafka-bridge %s\n", binaryVersion())
		return 0
	case "run":
		return runBridge(args, stderr)
	case "check-config":
		return checkConfig(args, stdout, stderr)
	case "explain":
		return explain(args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s", cmd, usage)
		return 2
	}
}

const usage = `usage:
  mqtt-kafka-bridge [--config FILE] [--set key=value]...   run the bridge
  mqtt-kafka-bridge version
  mqtt-kafka-bridge check-config [--config FILE] [--set key=value]...
  mqtt-kafka-bridge explain [--config FILE] [--client-id ID] [--username U] [--partitions N] MQTT_TOPIC
  mqtt-kafka-bridge explain [--config FILE] --downlink KAFKA_TOPIC [--key KEY] [--header k=v]...
`

// configFlags are the flags every command that reads the config shares.
type configFlags struct {
	path string
	set  []string
}

func (c *configFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&c.path, "config", "", "config file (default ./config.yaml if present, else the safe built-in defaults)")
	fs.StringArrayVar(&c.set, "set", nil, "override a config key, e.g. --set kafka.bootstrap_servers=host:9092 (repeatable)")
}

// load reads and validates the configuration.
func (c *configFlags) load() (bridge.Config, string, error) {
	path, err := bridge.LoadDefaultPath(c.path)
	if err != nil {
		return bridge.Config{}, "", err
	}
	cfg, err := bridge.Load(path, os.Environ(), c.set)
	if err != nil {
		return bridge.Config{}, path, err
	}
	if err := cfg.Validate(); err != nil {
		return bridge.Config{}, path, err
	}
	return cfg, path, nil
}

func newFlagSet(name string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func runBridge(args []string, stderr io.Writer) int {
	var cf configFlags
	fs := newFlagSet("run", stderr)
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, path, err := cf.load()
	if err != nil {
		fmt.Fprintf(stderr, "mqtt-kafka-bridge: bad configuration: %v\n", err)
		return 1
	}
	log, level, err := bridge.NewLogger(cfg.Log)
	if err != nil {
		fmt.Fprintf(stderr, "mqtt-kafka-bridge: %v\n", err)
		return 1
	}
	defer func() { _ = log.Sync() }()
	if path == "" {
		log.Info("no config file given and ./config.yaml absent: using built-in defaults")
	}
	b, err := bridge.New(cfg, bridge.Options{Logger: log, Level: level, Version: binaryVersion(), ConfigPath: path, Overrides: cf.set})
	if err != nil {
		fmt.Fprintf(stderr, "mqtt-kafka-bridge: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads rules, users and ACLs; a bad reload is refused (and
	// logged) and the running configuration is kept.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloads := make(chan struct{})
	go func() {
		defer close(reloads)
		reloadOnSignal(ctx, hup, b.Reload, log)
	}()
	err = b.Run(ctx)
	stop() // ends reloadOnSignal too
	<-reloads
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("bridge stopped with an error", bridge.ErrField(err))
		return 1
	}
	return 0
}

// reloadOnSignal runs reload at each signal on hup until ctx ends. A
// refused reload is logged here, once: reload returns its error and logs
// nothing.
func reloadOnSignal(ctx context.Context, hup <-chan os.Signal, reload func() error, log *zap.Logger) {
	for {
		select {
		case <-hup:
			if err := reload(); err != nil {
				log.Error("reload refused; the running configuration is kept", bridge.ErrField(err))
			}
		case <-ctx.Done():
			return
		}
	}
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	var cf configFlags
	fs := newFlagSet("check-config", stderr)
	cf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, path, err := cf.load()
	if err == nil {
		err = bridge.CheckFiles(cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "config invalid: %v\n", err)
		return 1
	}
	if path == "" {
		path = "built-in defaults"
	}
	fmt.Fprintf(stdout, "config ok (%s)\n", path)
	return 0
}
