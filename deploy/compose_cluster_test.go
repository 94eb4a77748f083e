package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
)

// The cluster profile of docker-compose.yml (issue 13, "Deployment"):
// three bridges in cluster mode behind HAProxy in TCP mode. No Docker
// engine runs here, so these tests check the files; the profile's
// haproxy.cfg is run for real by integration/cluster_haproxy_test.go.

// haproxyCfgPath is where the official haproxy image reads its config.
const haproxyCfgPath = "/usr/local/etc/haproxy/haproxy.cfg"

// haproxySection is one section of haproxy.cfg: its keyword (global,
// defaults, frontend, backend, resolvers, ...), its name and its
// directives, comments dropped.
type haproxySection struct {
	kind, name string
	lines      [][]string // each directive split into words
}

// find returns the directives whose first words are prefix.
func (s haproxySection) find(prefix ...string) [][]string {
	var out [][]string
	for _, l := range s.lines {
		if len(l) >= len(prefix) && slices.Equal(l[:len(prefix)], prefix) {
			out = append(out, l)
		}
	}
	return out
}

// parseHAProxy splits haproxy.cfg into sections. A section starts at a
// line that is not indented; directives are indented.
func parseHAProxy(t *testing.T, file string) []haproxySection {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []haproxySection
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line, _, _ := strings.Cut(raw, "#")
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		if raw[0] != ' ' && raw[0] != '\t' {
			s := haproxySection{kind: words[0]}
			if len(words) > 1 {
				s.name = words[1]
			}
			out = append(out, s)
			continue
		}
		if len(out) == 0 {
			t.Fatalf("%s:%d: directive %q outside a section", file, n, line)
		}
		out[len(out)-1].lines = append(out[len(out)-1].lines, words)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// haproxyDuration parses an HAProxy time (30s, 31m, 5000 = ms).
func haproxyDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Millisecond
	}
	d, err := time.ParseDuration(strings.Replace(s, "d", "h", 1))
	if err != nil {
		t.Fatalf("haproxy.cfg: time %q: %v", s, err)
	}
	if strings.HasSuffix(s, "d") {
		d *= 24
	}
	return d
}

// clusterReplicas returns the cluster profile's bridge services (those
// built from the bridge's Dockerfile), sorted by name.
func clusterReplicas(t *testing.T, c composeFile) []string {
	t.Helper()
	var out []string
	for name, s := range c.Services {
		if slices.Contains(s.Profiles, "cluster") && s.Image == c.Services["bridge"].Image {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// TestComposeClusterProfile: profile cluster has three bridges in cluster
// mode, each with its own replica id (its service name, which haproxy.cfg
// and Prometheus use) and its own named volume for the session store,
// cluster cache and spool, plus haproxy with the profile's haproxy.cfg
// mounted; the default stack is unchanged by it.
func TestComposeClusterProfile(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"kafka", "kafka-init", "bridge", "prometheus", "grafana"} {
		if p := c.Services[name].Profiles; len(p) > 0 {
			t.Errorf("service %s has profiles %v; the default stack must start without --profile", name, p)
		}
	}
	replicas := clusterReplicas(t, c)
	if len(replicas) != 3 {
		t.Fatalf("profile cluster has bridges %v; want 3", replicas)
	}
	df := parseDockerfile(t)
	single := devConfig(t, envFromCompose(t, c.Services["bridge"]))
	singleData, _ := c.Services["bridge"].mountFor(t, single.MQTT.DataDir)
	ids := map[string]string{}
	volumes := map[string]string{singleData.Source: "bridge"}
	for _, name := range replicas {
		s := c.Services[name]
		var names []string
		for k := range s.Environment {
			names = append(names, k)
		}
		checkEnvNames(t, "docker-compose.yml "+name, names)
		cfg := devConfig(t, envFromCompose(t, s))
		if !cfg.Cluster.Enabled {
			t.Errorf("%s: cluster.enabled is false", name)
		}
		id, err := cfg.Cluster.ResolvedReplicaID()
		switch {
		case cfg.Cluster.ReplicaID == "":
			t.Errorf("%s: no BRIDGE_CLUSTER_REPLICA_ID; the container's hostname would change with every recreated container", name)
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case id != name:
			t.Errorf("%s: replica id %q; want the service name (haproxy.cfg and Prometheus reach it by that name)", name, id)
		}
		if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share replica id %q; the second is refused at start", other, name, id)
		}
		ids[id] = name
		if s.Hostname != "" && s.Hostname != name {
			t.Errorf("%s: hostname %q; want the service name or none", name, s.Hostname)
		}
		if got := cfg.Kafka.BootstrapServers; !slices.Equal(got, []string{"kafka:29092"}) {
			t.Errorf("%s: kafka.bootstrap_servers %q; want [kafka:29092]", name, got)
		}
		if cfg.Cluster.ReplicationFactor != 1 {
			t.Errorf("%s: cluster.replication_factor %d; the local stack has one Kafka broker", name, cfg.Cluster.ReplicationFactor)
		}
		// The session store and cluster cache (data_dir) and the spool on
		// the replica's own named volume, at the image's VOLUME.
		for key, dir := range map[string]string{"mqtt.data_dir": cfg.MQTT.DataDir, "kafka.spool.dir": cfg.Kafka.Spool.Dir} {
			m, ok := s.mountFor(t, dir)
			switch {
			case !ok || m.Bind:
				t.Errorf("%s: %s %q is not on a named volume", name, key, dir)
			case m.Target != df.volume:
				t.Errorf("%s: %s on %q; the Dockerfile's VOLUME is %q", name, key, m.Target, df.volume)
			}
		}
		m, _ := s.mountFor(t, cfg.MQTT.DataDir)
		if other, dup := volumes[m.Source]; dup && m.Source != "" {
			t.Errorf("%s and %s share volume %q; each replica needs its own (its sessions, cache and spool)", other, name, m.Source)
		}
		volumes[m.Source] = name
		if cm, ok := s.mountFor(t, df.configPath); !ok || cm.Target != df.configPath || path.Clean(cm.Source) != "config.yaml" {
			t.Errorf("%s: want ./config.yaml mounted at %s (got %+v)", name, df.configPath, cm)
		}
		if cfg.Kafka.Consumer.GroupID == single.Kafka.Consumer.GroupID {
			t.Errorf("%s: consumer group %q is the single bridge's: the two deployments would split the downlink partitions", name, cfg.Kafka.Consumer.GroupID)
		}
		for dep, cond := range map[string]string{"kafka": "service_healthy", "kafka-init": "service_completed_successfully"} {
			if got := s.DependsOn[dep]; got != cond {
				t.Errorf("%s depends_on %s: condition %q; want %q", name, dep, got, cond)
			}
		}
		if len(s.Ports) > 0 {
			t.Errorf("%s publishes %v; devices come in through haproxy", name, s.Ports)
		}
	}

	hp, ok := c.Services["haproxy"]
	if !ok {
		t.Fatal("profile cluster: no service haproxy")
	}
	if !slices.Contains(hp.Profiles, "cluster") {
		t.Errorf("haproxy profiles %v; want cluster", hp.Profiles)
	}
	if !strings.HasPrefix(hp.Image, "haproxy:2.6") {
		t.Errorf("haproxy image %q; want haproxy:2.6 (the version integration/cluster_haproxy_test.go runs: Debian 12's)", hp.Image)
	}
	if m, ok := hp.mountFor(t, haproxyCfgPath); !ok || m.Target != haproxyCfgPath || path.Clean(m.Source) != "deploy/haproxy/haproxy.cfg" || !m.ReadOnly {
		t.Errorf("haproxy: want ./deploy/haproxy/haproxy.cfg mounted read-only at %s (got %+v)", haproxyCfgPath, m)
	}
	for _, r := range replicas {
		if _, ok := hp.DependsOn[r]; !ok {
			t.Errorf("haproxy does not depend on %s", r)
		}
	}
	checkHAProxyCfg(t, hp, replicas, single)
	checkPrometheusFindsReplicas(t, replicas, single)
}

// checkHAProxyCfg checks deploy/haproxy/haproxy.cfg against the compose
// file and config.yaml: TCP mode, one frontend per published container
// port, each backend listing every replica at the listener's port with a
// health check on /readyz at the admin port, and timeouts longer than any
// keep alive the bridge accepts.
func checkHAProxyCfg(t *testing.T, hp composeService, replicas []string, cfg bridge.Config) {
	t.Helper()
	secs := parseHAProxy(t, filepath.Join(root, "deploy", "haproxy", "haproxy.cfg"))
	byName := map[string]haproxySection{}
	var defaults haproxySection
	for _, s := range secs {
		switch s.kind {
		case "defaults":
			defaults = s
		case "frontend", "backend", "listen":
			byName[s.name] = s
		}
	}
	if m := defaults.find("mode"); len(m) != 1 || m[0][1] != "tcp" {
		t.Errorf("haproxy.cfg defaults: mode %v; want tcp", m)
	}
	// An MQTT connection may be idle 1.5 x its keep alive, at most
	// mqtt.max_keepalive: HAProxy must wait longer on both sides.
	idle := time.Duration(cfg.MQTT.MaxKeepAlive) * time.Second * 3 / 2
	for _, which := range []string{"client", "server"} {
		tm := defaults.find("timeout", which)
		if len(tm) != 1 {
			t.Errorf("haproxy.cfg defaults: no timeout %s", which)
			continue
		}
		if d := haproxyDuration(t, tm[0][2]); d <= idle {
			t.Errorf("haproxy.cfg: timeout %s %v; want more than 1.5 x mqtt.max_keepalive = %v, or idle devices are cut", which, d, idle)
		}
	}

	adminPort := port(t, cfg.Admin.Address)
	listeners := map[int]string{
		port(t, cfg.MQTT.Listeners.TCP.Address): "tcp",
		port(t, cfg.MQTT.Listeners.WS.Address):  "ws",
	}
	var published []int
	for _, p := range hp.Ports {
		_, ctr, err := publishedPort(p)
		if err != nil {
			t.Fatal(err)
		}
		published = append(published, ctr)
	}
	served := map[string]bool{}
	for _, fe := range secs {
		if fe.kind != "frontend" {
			continue
		}
		binds := fe.find("bind")
		if len(binds) != 1 {
			t.Errorf("frontend %s: %d bind lines; want 1", fe.name, len(binds))
			continue
		}
		_, ps, _ := strings.Cut(binds[0][1], ":")
		bp, err := strconv.Atoi(ps)
		if err != nil {
			t.Errorf("frontend %s: bind %q; want :PORT", fe.name, binds[0][1])
			continue
		}
		if !slices.Contains(published, bp) {
			t.Errorf("frontend %s binds %d, which docker-compose.yml does not publish (%v)", fe.name, bp, hp.Ports)
		}
		if m := fe.find("mode"); len(m) > 0 && m[0][1] == "http" {
			continue // the stats page
		}
		listener, ok := listeners[bp]
		if !ok {
			t.Errorf("frontend %s binds %d; config.yaml's MQTT listeners are on %v", fe.name, bp, listeners)
			continue
		}
		served[listener] = true
		db := fe.find("default_backend")
		if len(db) != 1 {
			t.Errorf("frontend %s: no default_backend", fe.name)
			continue
		}
		be, ok := byName[db[0][1]]
		if !ok {
			t.Errorf("frontend %s: backend %s not found", fe.name, db[0][1])
			continue
		}
		if len(be.find("option", "httpchk")) == 0 || len(be.find("http-check", "send", "meth", "GET", "uri", "/readyz")) == 0 ||
			len(be.find("http-check", "expect", "status", "200")) == 0 {
			t.Errorf("backend %s: want option httpchk with GET /readyz expecting 200 (new connections only to caught-up replicas)", be.name)
		}
		if b := be.find("balance"); len(b) != 1 || b[0][1] != "leastconn" {
			t.Errorf("backend %s: balance %v; want leastconn (long-lived connections)", be.name, b)
		}
		var servers []string
		for _, sv := range be.find("server") {
			if len(sv) < 3 {
				t.Errorf("backend %s: server line %v", be.name, sv)
				continue
			}
			servers = append(servers, sv[1])
			if want := sv[1] + ":" + strconv.Itoa(bp); sv[2] != want {
				t.Errorf("backend %s: server %s at %s; want %s (the replica's service name and the listener's port)", be.name, sv[1], sv[2], want)
			}
			i := slices.Index(sv, "port")
			if !slices.Contains(sv, "check") || i < 0 || i+1 >= len(sv) || sv[i+1] != strconv.Itoa(adminPort) {
				t.Errorf("backend %s: server %s %v; want `check port %d` (the admin listener's /readyz)", be.name, sv[1], sv[3:], adminPort)
			}
		}
		sort.Strings(servers)
		if !slices.Equal(servers, replicas) {
			t.Errorf("backend %s: servers %v; want the cluster replicas %v", be.name, servers, replicas)
		}
	}
	for _, l := range []string{"tcp", "ws"} {
		if !served[l] {
			t.Errorf("haproxy.cfg has no frontend for the %s listener", l)
		}
	}
}

// checkPrometheusFindsReplicas: the bridge job also discovers the cluster
// replicas by name, on the admin port.
func checkPrometheusFindsReplicas(t *testing.T, replicas []string, cfg bridge.Config) {
	t.Helper()
	var pc struct {
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join(root, "deploy", "prometheus", "prometheus.yml"), &pc)
	var found []string
	for _, sc := range pc.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			if sc.JobName != "mqtt-kafka-bridge" || d.Type != "A" || d.Port != port(t, cfg.Admin.Address) {
				t.Errorf("prometheus.yml: job %s dns_sd_configs %+v; want job mqtt-kafka-bridge, type A, the admin port", sc.JobName, d)
				continue
			}
			found = append(found, d.Names...)
		}
	}
	sort.Strings(found)
	if !slices.Equal(found, replicas) {
		t.Errorf("prometheus.yml discovers %v; want the cluster replicas %v", found, replicas)
	}
}

// TestHAProxyConfigValid runs `haproxy -c` on the profile's haproxy.cfg
// when haproxy is installed (integration/deps.sh installs it; the
// integration test requires it in CI).
func TestHAProxyConfigValid(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy" // Debian's, not on every user's PATH
		if _, err := os.Stat(bin); err != nil {
			t.Skip("haproxy not installed")
		}
	}
	out, err := exec.Command(bin, "-c", "-f", filepath.Join(root, "deploy", "haproxy", "haproxy.cfg")).CombinedOutput()
	if err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	// The replicas' names resolve only on the compose network: HAProxy
	// warns and starts without them (init-addr none). Anything else is a
	// mistake in the file.
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "[WARNING]") && !strings.Contains(l, "could not resolve address") {
			t.Errorf("haproxy -c: %s", l)
		}
	}
}
