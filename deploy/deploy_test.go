package deploy

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
)

func TestMain(m *testing.M) {
	// metrics_test.go starts a bridge; sarama's metrics registry keeps a
	// package-level ticker goroutine.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
	)
}

// root is the repository root; go test runs in deploy/.
const root = ".."

// hostPorts are the ports the local stack publishes on the host.
var hostPorts = []int{1883, 8083, 8080, 9092, 9090, 3000}

// clusterHostPorts are the ports the cluster profile adds (haproxy: MQTT,
// WebSocket, stats); they differ from hostPorts, so both run at once.
var clusterHostPorts = []int{1884, 8093, 8404}

// --- docker-compose.yml ------------------------------------------------------

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Profiles    []string       `yaml:"profiles"`
	Hostname    string         `yaml:"hostname"`
	Build       *composeBuild  `yaml:"build"`
	Environment stringMap      `yaml:"environment"`
	Volumes     []string       `yaml:"volumes"`
	Ports       []string       `yaml:"ports"`
	DependsOn   dependsOn      `yaml:"depends_on"`
	Healthcheck *composeHealth `yaml:"healthcheck"`
	Entrypoint  stringList     `yaml:"entrypoint"`
	Command     stringList     `yaml:"command"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type composeHealth struct {
	Test stringList `yaml:"test"`
}

// stringMap is compose's environment: a mapping or a list of NAME=value.
type stringMap map[string]string

func (m *stringMap) UnmarshalYAML(n *yaml.Node) error {
	out := stringMap{}
	switch n.Kind {
	case yaml.MappingNode:
		if err := n.Decode((*map[string]string)(&out)); err != nil {
			return err
		}
	case yaml.SequenceNode:
		var raw []string
		if err := n.Decode(&raw); err != nil {
			return err
		}
		for _, kv := range raw {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment is neither a mapping nor a list", n.Line)
	}
	*m = out
	return nil
}

// stringList is a compose string-or-list field (command, entrypoint, test).
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = stringList{n.Value}
		return nil
	}
	var raw []string
	if err := n.Decode(&raw); err != nil {
		return err
	}
	*l = raw
	return nil
}

// dependsOn is compose's depends_on: a list of services (condition
// service_started) or a mapping to {condition: ...}.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	out := dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var raw []string
		if err := n.Decode(&raw); err != nil {
			return err
		}
		for _, s := range raw {
			out[s] = "service_started"
		}
	case yaml.MappingNode:
		var raw map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&raw); err != nil {
			return err
		}
		for s, c := range raw {
			out[s] = c.Condition
		}
	default:
		return fmt.Errorf("line %d: depends_on is neither a list nor a mapping", n.Line)
	}
	*d = out
	return nil
}

// mount is one entry of a service's volumes in short syntax.
type mount struct {
	Source, Target string
	ReadOnly       bool
	Bind           bool // a host path (starts with . or /), else a named volume
}

func parseMount(s string) (mount, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return mount{}, fmt.Errorf("volume %q: want SOURCE:TARGET[:MODE]", s)
	}
	m := mount{Source: parts[0], Target: parts[1]}
	m.Bind = strings.HasPrefix(m.Source, ".") || strings.HasPrefix(m.Source, "/")
	if len(parts) == 3 {
		m.ReadOnly = slices.Contains(strings.Split(parts[2], ","), "ro")
	}
	return m, nil
}

func (s composeService) mounts(t *testing.T) []mount {
	t.Helper()
	var out []mount
	for _, v := range s.Volumes {
		m, err := parseMount(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// mountFor returns the mount whose target is dir or contains path p.
func (s composeService) mountFor(t *testing.T, p string) (mount, bool) {
	t.Helper()
	for _, m := range s.mounts(t) {
		if p == m.Target || strings.HasPrefix(p, strings.TrimSuffix(m.Target, "/")+"/") {
			return m, true
		}
	}
	return mount{}, false
}

// publishedPort parses a short-syntax port ("8080:8080", "127.0.0.1:80:8080",
// "9000:9000/tcp") into host and container ports.
func publishedPort(s string) (host, container int, err error) {
	s, _, _ = strings.Cut(s, "/")
	parts := strings.Split(s, ":")
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("port %q: the host port is not given", s)
	}
	host, err = strconv.Atoi(parts[len(parts)-2])
	if err != nil {
		return 0, 0, fmt.Errorf("port %q: %w", s, err)
	}
	container, err = strconv.Atoi(parts[len(parts)-1])
	if err != nil {
		return 0, 0, fmt.Errorf("port %q: %w", s, err)
	}
	return host, container, nil
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, filepath.Join(root, "docker-compose.yml"), &c)
	for _, name := range []string{"kafka", "kafka-init", "bridge", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("docker-compose.yml: no service %q", name)
		}
	}
	return c
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// devConfig is ./config.yaml as the bridge loads it, with env applied.
func devConfig(t *testing.T, env []string) bridge.Config {
	t.Helper()
	cfg, err := bridge.Load(filepath.Join(root, "config.yaml"), env, nil)
	if err != nil {
		t.Fatalf("load config.yaml with %v: %v", env, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config.yaml with %v: %v", env, err)
	}
	return cfg
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return n
}

func TestComposeReferencedFilesExist(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if s.Build != nil {
			ctx := filepath.Join(root, s.Build.Context)
			if fi, err := os.Stat(ctx); err != nil || !fi.IsDir() {
				t.Errorf("service %s: build context %q is not a directory", name, s.Build.Context)
			}
			df := s.Build.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if _, err := os.Stat(filepath.Join(ctx, df)); err != nil {
				t.Errorf("service %s: dockerfile: %v", name, err)
			}
		}
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %s: neither image nor build", name)
		}
		for _, m := range s.mounts(t) {
			if !m.Bind {
				if _, ok := c.Volumes[m.Source]; !ok {
					t.Errorf("service %s: named volume %q is not declared under volumes:", name, m.Source)
				}
				continue
			}
			if filepath.IsAbs(m.Source) {
				t.Errorf("service %s: bind mount %q is an absolute host path; use one relative to the repository", name, m.Source)
				continue
			}
			if _, err := os.Stat(filepath.Join(root, m.Source)); err != nil {
				t.Errorf("service %s: bind mount source: %v", name, err)
			}
			if !m.ReadOnly {
				t.Errorf("service %s: bind mount %q should be read-only (:ro)", name, m.Source)
			}
		}
		for dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on unknown service %q", name, dep)
			}
		}
	}
}

func TestComposePorts(t *testing.T) {
	c := loadCompose(t)
	// By profile: "" is the default stack (services without profiles).
	got := map[string][]int{}
	containerPorts := map[string][]int{}
	seen := map[int]string{}
	for name, s := range c.Services {
		profile := strings.Join(s.Profiles, ",")
		for _, p := range s.Ports {
			h, ctr, err := publishedPort(p)
			if err != nil {
				t.Fatalf("service %s: %v", name, err)
			}
			if other, dup := seen[h]; dup {
				t.Errorf("host port %d is published by %s and %s", h, other, name)
			}
			seen[h] = name
			got[profile] = append(got[profile], h)
			containerPorts[name] = append(containerPorts[name], ctr)
		}
	}
	for profile, want := range map[string][]int{"": hostPorts, "cluster": clusterHostPorts} {
		g := got[profile]
		sort.Ints(g)
		want = slices.Clone(want)
		sort.Ints(want)
		if !slices.Equal(g, want) {
			t.Errorf("host ports published by profile %q = %v; want exactly %v", profile, g, want)
		}
		delete(got, profile)
	}
	for profile, g := range got {
		t.Errorf("profile %q publishes host ports %v; only the default stack and profile cluster are expected", profile, g)
	}

	// The bridge publishes the ports config.yaml listens on.
	cfg := devConfig(t, nil)
	wantBridge := []int{
		port(t, cfg.MQTT.Listeners.TCP.Address),
		port(t, cfg.MQTT.Listeners.WS.Address),
		port(t, cfg.Admin.Address),
	}
	sort.Ints(wantBridge)
	gotBridge := containerPorts["bridge"]
	sort.Ints(gotBridge)
	if !slices.Equal(gotBridge, wantBridge) {
		t.Errorf("bridge container ports = %v; want %v (mqtt.listeners.tcp, mqtt.listeners.ws, admin addresses in config.yaml)", gotBridge, wantBridge)
	}
	if !cfg.MQTT.Listeners.TCP.Enabled || !cfg.MQTT.Listeners.WS.Enabled {
		t.Errorf("config.yaml: tcp and ws listeners must be enabled for the published ports to answer")
	}
}

// envFromCompose returns the bridge's BRIDGE_* variables as NAME=value.
func envFromCompose(t *testing.T, s composeService) []string {
	t.Helper()
	var env []string
	for k, v := range s.Environment {
		if strings.HasPrefix(k, bridge.EnvPrefix) {
			env = append(env, k+"="+v)
		}
	}
	sort.Strings(env)
	return env
}

// checkEnvNames reports each BRIDGE_* name that is no config key.
func checkEnvNames(t *testing.T, where string, names []string) {
	t.Helper()
	known := map[string]string{}
	for _, k := range bridge.Keys() {
		known[bridge.EnvPrefix+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = k
	}
	for _, n := range names {
		if !strings.HasPrefix(n, bridge.EnvPrefix) {
			continue
		}
		if _, ok := known[n]; !ok {
			t.Errorf("%s: %s is no config key (BRIDGE_ + key upper-cased, '.' as '_'; see bridge.Keys())", where, n)
		}
	}
}

func TestComposeBridgeEnvironment(t *testing.T) {
	c := loadCompose(t)
	br := c.Services["bridge"]
	var names []string
	for k := range br.Environment {
		names = append(names, k)
	}
	checkEnvNames(t, "docker-compose.yml bridge", names)

	env := envFromCompose(t, br)
	cfg := devConfig(t, env)
	if got := cfg.Kafka.BootstrapServers; !slices.Equal(got, []string{"kafka:29092"}) {
		t.Errorf("kafka.bootstrap_servers in compose = %q; want [kafka:29092]", got)
	}
	if cfg.Log.Format != "json" {
		t.Errorf("log.format in compose = %q; want json", cfg.Log.Format)
	}

	df := parseDockerfile(t)
	m, ok := br.mountFor(t, cfg.MQTT.DataDir)
	switch {
	case !ok:
		t.Errorf("mqtt.data_dir %q is not on a volume", cfg.MQTT.DataDir)
	case m.Bind:
		t.Errorf("mqtt.data_dir %q is on bind mount %q; want a named volume", cfg.MQTT.DataDir, m.Source)
	case m.Target != df.volume:
		t.Errorf("data volume mounted at %q; the Dockerfile's VOLUME is %q", m.Target, df.volume)
	}
	// The spool holds records devices were acked for: it must outlive the
	// container, like the sessions.
	if cfg.Kafka.Spool.Enabled {
		switch m, ok := br.mountFor(t, cfg.Kafka.Spool.Dir); {
		case !ok:
			t.Errorf("kafka.spool.dir %q is not on a volume (set BRIDGE_KAFKA_SPOOL_DIR)", cfg.Kafka.Spool.Dir)
		case m.Bind:
			t.Errorf("kafka.spool.dir %q is on bind mount %q; want a named volume", cfg.Kafka.Spool.Dir, m.Source)
		case m.Target != df.volume:
			t.Errorf("kafka.spool.dir on %q; the Dockerfile's VOLUME is %q", m.Target, df.volume)
		}
		if path.Clean(cfg.Kafka.Spool.Dir) == path.Clean(cfg.MQTT.DataDir) {
			t.Errorf("kafka.spool.dir and mqtt.data_dir are both %q; give each its own directory", cfg.Kafka.Spool.Dir)
		}
	}
	cm, ok := br.mountFor(t, df.configPath)
	if !ok || cm.Target != df.configPath || path.Clean(cm.Source) != "config.yaml" {
		t.Errorf("the ENTRYPOINT reads %s; want ./config.yaml mounted there (got %+v)", df.configPath, cm)
	}
}

func TestComposeStartOrder(t *testing.T) {
	c := loadCompose(t)
	k := c.Services["kafka"]
	if k.Image != "apache/kafka:4.1.1" {
		t.Errorf("kafka image = %q; want apache/kafka:4.1.1", k.Image)
	}
	// The tests' Kafka (integration/kafka.sh) and the compose one agree.
	sh, err := os.ReadFile(filepath.Join(root, "integration", "kafka.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if v := strings.TrimPrefix(k.Image, "apache/kafka:"); !regexp.MustCompile(`(?m)^KAFKA_VERSION=` + regexp.QuoteMeta(v) + `\b`).Match(sh) {
		t.Errorf("integration/kafka.sh does not pin KAFKA_VERSION=%s like docker-compose.yml", v)
	}
	if k.Healthcheck == nil || !slices.ContainsFunc(k.Healthcheck.Test, func(s string) bool {
		return strings.Contains(s, "/opt/kafka/bin/kafka-broker-api-versions.sh") || strings.Contains(s, "/opt/kafka/bin/kafka-topics.sh")
	}) {
		t.Errorf("kafka healthcheck = %+v; want one running /opt/kafka/bin/kafka-broker-api-versions.sh or kafka-topics.sh", k.Healthcheck)
	}
	for _, want := range []string{"INTERNAL://kafka:29092", "HOST://localhost:9092"} {
		if !strings.Contains(k.Environment["KAFKA_ADVERTISED_LISTENERS"], want) {
			t.Errorf("KAFKA_ADVERTISED_LISTENERS = %q; want it to contain %s", k.Environment["KAFKA_ADVERTISED_LISTENERS"], want)
		}
	}

	wantDeps := map[string]map[string]string{
		"kafka-init": {"kafka": "service_healthy"},
		"bridge":     {"kafka": "service_healthy", "kafka-init": "service_completed_successfully"},
	}
	for svc, deps := range wantDeps {
		for dep, cond := range deps {
			if got := c.Services[svc].DependsOn[dep]; got != cond {
				t.Errorf("%s depends_on %s: condition %q; want %q", svc, dep, got, cond)
			}
		}
	}

	// kafka-init creates every topic config.yaml routes to, and the
	// dead-letter topic the Kubernetes config uses.
	script := strings.Join(append(slices.Clone(c.Services["kafka-init"].Entrypoint), c.Services["kafka-init"].Command...), " ")
	if !strings.Contains(script, "kafka-topics.sh") || !strings.Contains(script, "--create") {
		t.Errorf("kafka-init does not run kafka-topics.sh --create: %q", script)
	}
	cfg := devConfig(t, nil)
	topics := []string{"iot.dlq"}
	for _, r := range cfg.Mapping.Uplink {
		topics = append(topics, r.KafkaTopic)
	}
	for _, r := range cfg.Mapping.Downlink {
		topics = append(topics, r.KafkaTopics...)
	}
	if cfg.Mapping.DeadLetterTopic != "" {
		topics = append(topics, cfg.Mapping.DeadLetterTopic)
	}
	for _, tp := range topics {
		if !regexp.MustCompile(`(^|[\s"'])` + regexp.QuoteMeta(tp) + `($|[\s"';])`).MatchString(script) {
			t.Errorf("kafka-init does not create topic %s", tp)
		}
	}
}

// --- deploy/Dockerfile ------------------------------------------------------

type dockerfile struct {
	stages     []dockerStage
	buildCmd   string // the RUN line holding "go build"
	volume     string
	configPath string // the path after --config in the ENTRYPOINT
	expose     []int
	entrypoint []string
}

type dockerStage struct {
	from  string
	user  string
	lines []string // instructions, continuation lines joined
}

// dockerInstructions joins continuation lines and drops comments.
func dockerInstructions(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s)
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	var d dockerfile
	for _, in := range dockerInstructions(t, filepath.Join(root, "deploy", "Dockerfile")) {
		op, arg, _ := strings.Cut(in, " ")
		arg = strings.TrimSpace(arg)
		switch strings.ToUpper(op) {
		case "FROM":
			d.stages = append(d.stages, dockerStage{from: strings.Fields(arg)[0]})
			continue
		case "USER":
			d.stages[len(d.stages)-1].user = arg
		case "RUN":
			if strings.Contains(arg, "go build") {
				d.buildCmd = arg
			}
		case "VOLUME":
			var vs []string
			if err := yaml.Unmarshal([]byte(arg), &vs); err != nil || len(vs) != 1 {
				vs = strings.Fields(arg)
			}
			d.volume = vs[0]
		case "EXPOSE":
			for _, p := range strings.Fields(arg) {
				p, _, _ = strings.Cut(p, "/")
				n, err := strconv.Atoi(p)
				if err != nil {
					t.Fatalf("EXPOSE %s: %v", arg, err)
				}
				d.expose = append(d.expose, n)
			}
		case "ENTRYPOINT":
			if err := yaml.Unmarshal([]byte(arg), &d.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT %s: want the exec (JSON) form: %v", arg, err)
			}
			if i := slices.Index(d.entrypoint, "--config"); i >= 0 && i+1 < len(d.entrypoint) {
				d.configPath = d.entrypoint[i+1]
			}
		}
		if len(d.stages) == 0 {
			t.Fatalf("Dockerfile: %q before FROM", in)
		}
		st := &d.stages[len(d.stages)-1]
		st.lines = append(st.lines, in)
	}
	if len(d.stages) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a final stage", len(d.stages))
	}
	return d
}

// goBuild is a go build command split into its parts.
type goBuild struct {
	env   map[string]string
	flags map[string]string // flag -> value ("" for boolean flags)
	pkgs  []string
}

// goBuildValueFlags take a value as the next word.
var goBuildValueFlags = map[string]bool{"-o": true, "-ldflags": true, "-gcflags": true, "-tags": true, "-mod": true, "-p": true}

// shellWords splits s like sh would for simple commands: whitespace
// separates words, double and single quotes group.
func shellWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}

func parseGoBuild(t *testing.T, cmd string) goBuild {
	t.Helper()
	words, err := shellWords(cmd)
	if err != nil {
		t.Fatalf("%q: %v", cmd, err)
	}
	g := goBuild{env: map[string]string{}, flags: map[string]string{}}
	i := slices.Index(words, "go")
	if i < 0 || i+1 >= len(words) || words[i+1] != "build" {
		t.Fatalf("%q: no go build", cmd)
	}
	for _, w := range words[:i] {
		if k, v, ok := strings.Cut(w, "="); ok && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(k) {
			g.env[k] = v
		}
	}
	for j := i + 2; j < len(words); j++ {
		w := words[j]
		switch {
		case strings.HasPrefix(w, "-"):
			name, val, hasVal := strings.Cut(w, "=")
			if !hasVal && goBuildValueFlags[name] && j+1 < len(words) {
				j++
				val = words[j]
			}
			g.flags[name] = val
		default:
			g.pkgs = append(g.pkgs, w)
		}
	}
	return g
}

func makefileBuild(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^build:.*\n\t(.+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("Makefile: no build target with a recipe line")
	}
	return strings.ReplaceAll(string(m[1]), "$(GO)", "go")
}

func TestDockerfileBuildMatchesMakefile(t *testing.T) {
	d := parseDockerfile(t)
	if d.buildCmd == "" {
		t.Fatal("Dockerfile: no RUN with go build")
	}
	if !strings.HasPrefix(d.stages[0].from, "golang:1.26") {
		t.Errorf("build stage FROM %s; want golang:1.26", d.stages[0].from)
	}
	// The RUN may start with --mount options before the command.
	docker := parseGoBuild(t, d.buildCmd)
	mk := parseGoBuild(t, makefileBuild(t))

	if !maps.Equal(docker.env, mk.env) {
		t.Errorf("go build environment: Dockerfile %v, Makefile %v; want the same", docker.env, mk.env)
	}
	if docker.env["CGO_ENABLED"] != "0" {
		t.Errorf("Dockerfile go build: CGO_ENABLED=%q; want 0 (the final image has no libc)", docker.env["CGO_ENABLED"])
	}
	for f, v := range mk.flags {
		if f == "-o" || f == "-ldflags" { // both set main.version, each its own way
			continue
		}
		if dv, ok := docker.flags[f]; !ok || dv != v {
			t.Errorf("Makefile builds with %s; the Dockerfile does not", strings.TrimSpace(f+" "+v))
		}
	}
	for f := range docker.flags {
		if _, ok := mk.flags[f]; !ok && f != "-ldflags" {
			t.Errorf("Dockerfile builds with %s, which the Makefile does not (only -ldflags may differ)", f)
		}
	}
	if !slices.Equal(docker.pkgs, mk.pkgs) || !slices.Equal(docker.pkgs, []string{"./cmd/mqtt-kafka-bridge"}) {
		t.Errorf("packages built: Dockerfile %v, Makefile %v; want [./cmd/mqtt-kafka-bridge] in both", docker.pkgs, mk.pkgs)
	}
	if _, ok := docker.flags["-trimpath"]; !ok {
		t.Error("Dockerfile go build without -trimpath")
	}
	// -X main.version= needs the variable to exist.
	if ld := docker.flags["-ldflags"]; strings.Contains(ld, "-X main.version=") {
		src, err := os.ReadFile(filepath.Join(root, "cmd", "mqtt-kafka-bridge", "main.go"))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^var version = `).Match(src) {
			t.Error("-ldflags sets main.version, but cmd/mqtt-kafka-bridge/main.go has no `var version =`")
		}
	}
	out := docker.flags["-o"]
	final := d.stages[len(d.stages)-1]
	if !slices.ContainsFunc(final.lines, func(l string) bool {
		return strings.HasPrefix(l, "COPY --from=") && strings.Contains(l, " "+out+" ")
	}) {
		t.Errorf("final stage does not copy the built binary %s", out)
	}
	if len(d.entrypoint) == 0 || !slices.ContainsFunc(final.lines, func(l string) bool {
		return strings.HasPrefix(l, "COPY --from=") && strings.HasSuffix(l, " "+d.entrypoint[0])
	}) {
		t.Errorf("ENTRYPOINT %v does not run the copied binary", d.entrypoint)
	}
}

func TestDockerfileFinalStage(t *testing.T) {
	d := parseDockerfile(t)
	final := d.stages[len(d.stages)-1]
	if final.from != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final stage FROM %s; want gcr.io/distroless/static-debian12:nonroot", final.from)
	}
	uid, _, _ := strings.Cut(final.user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("final stage USER %q; want a numeric non-root uid (65532)", final.user)
	}
	if d.volume != "/var/lib/mqtt-kafka-bridge" {
		t.Errorf("VOLUME %q; want /var/lib/mqtt-kafka-bridge", d.volume)
	}
	// The volume directory is created owned by the non-root user, or a fresh
	// named volume would be root's and the bridge could not write to it.
	if !slices.ContainsFunc(final.lines, func(l string) bool {
		return strings.HasPrefix(l, "COPY") && strings.Contains(l, "--chown="+final.user) && strings.HasSuffix(l, " "+d.volume)
	}) {
		t.Errorf("final stage does not create %s owned by %s", d.volume, final.user)
	}
	if d.configPath != "/etc/mqtt-kafka-bridge/config.yaml" {
		t.Errorf("ENTRYPOINT %v; want --config /etc/mqtt-kafka-bridge/config.yaml", d.entrypoint)
	}

	// EXPOSE lists every listener address of config.yaml and admin.
	cfg := devConfig(t, nil)
	l := cfg.MQTT.Listeners
	var want []int
	for _, a := range []string{l.TCP.Address, l.TLS.Address, l.WS.Address, l.WSS.Address, cfg.Admin.Address} {
		want = append(want, port(t, a))
	}
	sort.Ints(want)
	got := slices.Clone(d.expose)
	sort.Ints(got)
	if !slices.Equal(got, want) {
		t.Errorf("EXPOSE %v; want %v (the listener and admin ports of config.yaml)", got, want)
	}
}

// TestDockerignoreKeepsSources checks that deploy/Dockerfile.dockerignore
// does not exclude what the build needs.
func TestDockerignoreKeepsSources(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimPrefix(l, "/"))
		}
	}
	ignored := func(p string) bool {
		for _, pat := range patterns {
			// Any ancestor or the path itself; "**/" matches at any depth.
			parts := strings.Split(p, "/")
			for i := 1; i <= len(parts); i++ {
				prefix := strings.Join(parts[:i], "/")
				if ok, _ := path.Match(pat, prefix); ok {
					return true
				}
				if rest, isAny := strings.CutPrefix(pat, "**/"); isAny {
					if ok, _ := path.Match(rest, parts[i-1]); ok {
						return true
					}
				}
			}
		}
		return false
	}
	need := []string{"go.mod", "go.sum", "cmd/mqtt-kafka-bridge/main.go"}
	for _, dir := range []string{"bridge", "mqttfront", "mapping", "kafka", "cmd/mqtt-kafka-bridge"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				rel, _ := filepath.Rel(root, p)
				need = append(need, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range need {
		if ignored(p) {
			t.Errorf("deploy/Dockerfile.dockerignore excludes %s, which the build needs", p)
		}
	}
	if !ignored(".git/HEAD") {
		t.Error("deploy/Dockerfile.dockerignore should exclude .git")
	}
}

// --- Prometheus and Grafana -------------------------------------------------

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func TestPrometheusScrapesBridge(t *testing.T) {
	c := loadCompose(t)
	prom := c.Services["prometheus"]
	var pc promConfig
	readYAML(t, filepath.Join(root, "deploy", "prometheus", "prometheus.yml"), &pc)

	cfg := devConfig(t, nil)
	want := net.JoinHostPort("bridge", strconv.Itoa(port(t, cfg.Admin.Address)))
	if want != "bridge:8080" {
		t.Errorf("admin address in config.yaml is %s; the stack expects :8080", cfg.Admin.Address)
	}
	found := false
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, want) {
				found = true
				if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
					t.Errorf("job %s scrapes %s; the bridge serves /metrics", sc.JobName, sc.MetricsPath)
				}
				if sc.JobName != "mqtt-kafka-bridge" {
					t.Errorf("job %q scrapes the bridge; alerts.yml selects up{job=\"mqtt-kafka-bridge\"}", sc.JobName)
				}
			}
		}
	}
	if !found {
		t.Errorf("prometheus.yml does not scrape %s", want)
	}

	// The config file and the rule files are mounted from deploy/prometheus.
	cfgFile := "/etc/prometheus/prometheus.yml"
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			cfgFile = v
		}
	}
	wantSrc := map[string]string{cfgFile: "deploy/prometheus/prometheus.yml"}
	if len(pc.RuleFiles) != 1 {
		t.Fatalf("rule_files = %v; want alerts.yml", pc.RuleFiles)
	}
	wantSrc[pc.RuleFiles[0]] = "deploy/prometheus/alerts.yml"
	for target, src := range wantSrc {
		m, ok := prom.mountFor(t, target)
		if !ok || m.Target != target || path.Clean(m.Source) != src {
			t.Errorf("prometheus reads %s; want %s mounted there (got %+v)", target, src, m)
		}
	}
}

type grafanaDatasources struct {
	Datasources []struct {
		Name string `yaml:"name"`
		UID  string `yaml:"uid"`
		Type string `yaml:"type"`
		URL  string `yaml:"url"`
	} `yaml:"datasources"`
}

type grafanaProviders struct {
	Providers []struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, ext := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, ext))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("no YAML files in %s", dir)
	}
	return out
}

func TestGrafanaProvisioning(t *testing.T) {
	c := loadCompose(t)
	gf := c.Services["grafana"]
	prov := filepath.Join(root, "deploy", "grafana", "provisioning")

	uids := map[string]bool{}
	for _, f := range yamlFiles(t, filepath.Join(prov, "datasources")) {
		var ds grafanaDatasources
		readYAML(t, f, &ds)
		for _, d := range ds.Datasources {
			uids[d.UID] = true
			if d.Type == "prometheus" && d.URL != "http://prometheus:9090" {
				t.Errorf("%s: data source %s at %s; want http://prometheus:9090 (the compose service)", f, d.Name, d.URL)
			}
		}
	}
	if !uids["prometheus"] {
		t.Errorf("no provisioned data source with uid prometheus; have %v", uids)
	}

	for _, f := range yamlFiles(t, filepath.Join(prov, "dashboards")) {
		var p grafanaProviders
		readYAML(t, f, &p)
		if len(p.Providers) == 0 {
			t.Errorf("%s: no providers", f)
		}
		for _, pr := range p.Providers {
			m, ok := gf.mountFor(t, pr.Options.Path)
			if !ok || m.Target != pr.Options.Path || path.Clean(m.Source) != "deploy/grafana/dashboards" {
				t.Errorf("provider %s reads %s; want deploy/grafana/dashboards mounted there (got %+v)", pr.Name, pr.Options.Path, m)
			}
		}
	}
	for _, sub := range []string{"datasources", "dashboards"} {
		target := "/etc/grafana/provisioning/" + sub
		m, ok := gf.mountFor(t, target)
		if !ok || path.Clean(m.Source) != "deploy/grafana/provisioning/"+sub {
			t.Errorf("grafana: %s is not mounted from deploy/grafana/provisioning/%s (got %+v)", target, sub, m)
		}
	}
	if home := gf.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		m, ok := gf.mountFor(t, home)
		if !ok {
			t.Errorf("home dashboard %s is not on a mount", home)
		} else if _, err := os.Stat(filepath.Join(root, m.Source, strings.TrimPrefix(home, m.Target))); err != nil {
			t.Errorf("home dashboard: %v", err)
		}
	}

	d := loadDashboard(t)
	if d.SchemaVersion < 36 {
		t.Errorf("dashboard schemaVersion %d; want 36 or later", d.SchemaVersion)
	}
	for _, p := range d.allPanels() {
		for _, ds := range p.datasources() {
			if ds.UID != "" && !uids[ds.UID] && !strings.HasPrefix(ds.UID, "$") {
				t.Errorf("panel %q uses data source uid %q; provisioned: %v", p.Title, ds.UID, uids)
			}
		}
		if p.Type != "row" && p.Type != "text" && len(p.Targets) == 0 {
			t.Errorf("panel %q (%s) has no queries", p.Title, p.Type)
		}
	}
}

// waitFor is the kit's WaitFor (one poll policy for the module).
var waitFor = testkit.WaitFor
