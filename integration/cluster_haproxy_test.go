package integration

// Issue 13, "Deployment": docker-compose.yml's cluster profile runs three
// replicas behind HAProxy in TCP mode (deploy/haproxy/haproxy.cfg). There
// is no Docker engine here, so this test runs that very haproxy.cfg,
// rewritten only for addresses and ports, with the real haproxy binary
// (Debian 12's 2.6, the version of the profile's image) in front of three
// native replicas (startCluster).

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/clusterkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/faultkit"
	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// haproxyServerPrefix names the cfg's servers: bridge-1 is replica r1.
const haproxyServerPrefix = "bridge-"

// haproxyBinary is requireBinary for haproxy, which Debian installs in
// /usr/sbin (not on every user's PATH).
func haproxyBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		if fi, err := os.Stat("/usr/sbin/haproxy"); err == nil && fi.Mode()&0o111 != 0 {
			return "/usr/sbin/haproxy"
		}
	}
	return requireBinary(t, "haproxy")
}

// haproxyProc is haproxy running the profile's config.
type haproxyProc struct {
	mqtt, ws, stats string // the frontends' addresses
	*childProc
}

// rewriteHAProxyCfg returns src with its addresses and ports replaced,
// nothing else: `bind :PORT` by binds[PORT]; `server bridge-N bridge-N:PORT
// ... port ADMIN` by replica rN's listener for PORT (servers[N][PORT]) and
// its admin port. A bind or server it cannot map is an error: the cfg has
// drifted from what docker-compose.yml and this test expect.
func rewriteHAProxyCfg(src string, binds map[string]string, servers map[string]map[string]string) (string, error) {
	lines := strings.Split(src, "\n")
	for i, line := range lines {
		code, comment, hasComment := strings.Cut(line, "#")
		words := strings.Fields(code)
		if len(words) < 2 {
			continue
		}
		switch words[0] {
		case "bind":
			_, p, _ := strings.Cut(words[1], ":")
			to, ok := binds[p]
			if !ok {
				return "", fmt.Errorf("line %d: bind %s: no address for port %s", i+1, words[1], p)
			}
			code = strings.Replace(code, words[1], to, 1)
		case "server":
			if len(words) < 3 {
				return "", fmt.Errorf("line %d: server without address", i+1)
			}
			addrs, ok := servers[words[1]]
			if !ok {
				return "", fmt.Errorf("line %d: unknown server %s", i+1, words[1])
			}
			_, p, _ := strings.Cut(words[2], ":")
			to, ok := addrs[p]
			if !ok {
				return "", fmt.Errorf("line %d: server %s: no listener for port %s", i+1, words[1], p)
			}
			out := slices.Clone(words)
			out[2] = to
			if j := slices.Index(out, "port"); j >= 0 && j+1 < len(out) {
				if out[j+1], ok = addrs["check"]; !ok {
					return "", fmt.Errorf("line %d: server %s: no check port", i+1, words[1])
				}
			}
			lead := code[:len(code)-len(strings.TrimLeft(code, " \t"))]
			code = lead + strings.Join(out, " ")
		default:
			continue
		}
		if hasComment {
			code += "#" + comment
		}
		lines[i] = code
	}
	return strings.Join(lines, "\n"), nil
}

// startHAProxy rewrites deploy/haproxy/haproxy.cfg for the cluster's
// replicas (their MQTT, WebSocket and admin ports) and free loopback
// ports for its frontends, checks it with `haproxy -c`, runs it in the
// foreground and waits until every server of both backends is UP.
func startHAProxy(t *testing.T, bin string, c *testCluster, ws map[string]string) *haproxyProc {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "haproxy", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	h := &haproxyProc{
		mqtt:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		ws:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		stats: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
	}
	servers := map[string]map[string]string{}
	for i, r := range c.rs {
		_, admin, _ := net.SplitHostPort(r.setup.admin)
		servers[fmt.Sprintf("%s%d", haproxyServerPrefix, i+1)] = map[string]string{
			"1883": r.setup.mqtt, "8083": ws[r.id], "check": admin,
		}
	}
	cfg, err := rewriteHAProxyCfg(string(src), map[string]string{"1883": h.mqtt, "8083": h.ws, "8404": h.stats}, servers)
	if err != nil {
		t.Fatalf("deploy/haproxy/haproxy.cfg: %v", err)
	}
	file := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c on the rewritten haproxy.cfg: %v\n%s\n%s", err, out, cfg)
	}
	h.childProc = startChild(t, "haproxy", exec.Command(bin, "-f", file, "-db"), 10*time.Second, 40) // -db: foreground
	waitFor(t, mqttWait, "haproxy: every server of both backends UP", func() bool {
		st := h.servers(t)
		for _, be := range []string{"bridges_mqtt", "bridges_ws"} {
			for i := range c.rs {
				if st[be+"/"+haproxyServerPrefix+strconv.Itoa(i+1)].status != "UP" {
					return false
				}
			}
		}
		return true
	})
	return h
}

// haproxyServer is one server's row of the stats CSV.
type haproxyServer struct {
	status      string // UP, DOWN, ...
	checkStatus string // L7OK, L7STS (wrong HTTP status), L4CON (refused), ...
	checkCode   string // the HTTP status of the last check
	cur         int    // current connections
}

// servers reads haproxy's stats CSV: every server by backend/name.
func (h *haproxyProc) servers(t *testing.T) map[string]haproxyServer {
	t.Helper()
	select {
	case <-h.done:
		t.Fatalf("haproxy exited\n%s", tail(h.out.String(), 40))
	default:
	}
	code, body := httpGet(h.stats, "/;csv")
	if code != http.StatusOK {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if len(lines) == 0 {
		return nil
	}
	col := map[string]int{}
	for i, name := range strings.Split(strings.TrimPrefix(lines[0], "# "), ",") {
		col[name] = i
	}
	out := map[string]haproxyServer{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) <= col["check_code"] || f[col["svname"]] == "FRONTEND" || f[col["svname"]] == "BACKEND" {
			continue
		}
		cur, _ := strconv.Atoi(f[col["scur"]])
		out[f[col["pxname"]]+"/"+f[col["svname"]]] = haproxyServer{
			status: f[col["status"]], checkStatus: f[col["check_status"]], checkCode: f[col["check_code"]], cur: cur,
		}
	}
	return out
}

// mqttServer is replica id's server in the MQTT backend.
func mqttServer(id string) string {
	return "bridges_mqtt/" + haproxyServerPrefix + strings.TrimPrefix(id, "r")
}

// onlineAt waits until exactly one replica has clientID online and
// returns it.
func (c *testCluster) onlineAt(clientID string) string {
	c.t.Helper()
	var st ownerState
	var err error
	if !poll(mqttWait, func() bool {
		st, err = c.holdersOf(clientID)
		return err == nil && len(st.Online) == 1
	}) {
		c.t.Fatalf("%s: online at %v (err %v); want exactly one replica", clientID, st.Online, err)
	}
	return st.Online[0]
}

// TestClusterHAProxy runs the compose cluster profile's haproxy.cfg in
// front of three replicas and proves:
//  1. MQTT clients connected through it are spread over the replicas
//     (leastconn: 9 clients, 3 each), and a WebSocket client gets through
//     its WebSocket frontend;
//  2. a persistent session that reconnects through it and lands on
//     another replica finds its session (Session Present, no SUBSCRIBE
//     sent again) and its subscription works there;
//  3. messages published through it at one replica reach that subscriber
//     on another replica: all, once, in order (copies counted at the
//     publisher's replica);
//  4. readiness gates it: a replica that runs, listens and answers
//     /healthz but is not caught up (/readyz 503) gets no connection
//     (check L7STS), and gets new ones once ready.
func TestClusterHAProxy(t *testing.T) {
	bin := haproxyBinary(t)
	if out, err := exec.Command(bin, "-v").CombinedOutput(); err == nil {
		t.Logf("%s", strings.SplitN(string(out), "\n", 2)[0])
	}
	ws := map[string]string{}
	c := startCluster(t, 3, func(id string) clusterOpts {
		ws[id] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		return clusterOpts{sets: []string{"mqtt.listeners.ws.enabled=true", "mqtt.listeners.ws.address=" + ws[id]}}
	})
	h := startHAProxy(t, bin, c, ws)
	ctx := context.Background()

	// --- 1. Spread.
	spread := map[string][]*clusterkit.Client{}
	var conns []time.Duration
	for i := range 9 {
		id := uniq(t, fmt.Sprintf("spread%d", i))
		began := time.Now()
		cl := connectRetry(t, clusterkit.Options{Addr: h.mqtt, ClientID: id, Version: byte(4 + i%2), CleanStart: true})
		conns = append(conns, time.Since(began))
		where := c.onlineAt(id)
		spread[where] = append(spread[where], cl)
	}
	counts := map[string]int{}
	for id, cls := range spread {
		counts[id] = len(cls)
	}
	st := h.servers(t)
	t.Logf("9 clients through haproxy: per replica %v (haproxy scur: r1 %d, r2 %d, r3 %d); CONNECT→CONNACK through haproxy %s",
		counts, st[mqttServer("r1")].cur, st[mqttServer("r2")].cur, st[mqttServer("r3")].cur, durationStats(conns))
	for _, r := range c.rs {
		if counts[r.id] < 2 {
			t.Errorf("replica %s got %d of 9 connections through haproxy (%v); want them spread (leastconn: 3 each)", r.id, counts[r.id], counts)
		}
	}
	wsID := uniq(t, "ws")
	wsc := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("ws://" + h.ws + "/mqtt").SetClientID(wsID).
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second))
	waitToken(t, wsc.Connect(), "MQTT over WebSocket through haproxy")
	t.Logf("WebSocket client through haproxy online at %s", c.onlineAt(wsID))
	wsc.Disconnect(250)

	// --- 2. A persistent session moves through haproxy.
	device := uniq(t, "dev")
	topic := "hap/" + device + "/cmd"
	sub := clusterkit.NewSubscriber(clusterkit.SubscriberConfig{ClientID: device, Addr: at(h.mqtt), Version: 5,
		Filter: topic, QoS: 1, Persistent: true})
	t.Cleanup(sub.Close)
	ci, err := sub.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.SessionPresent || !ci.Subscribed {
		t.Fatalf("first connect: Session Present %v, subscribed %v; want a new session", ci.SessionPresent, ci.Subscribed)
	}
	first := c.onlineAt(device)
	sub.Close()
	// leastconn sends the next connection to the replica with the fewest:
	// close one spread client on another replica.
	var second string
	for _, r := range c.rs {
		if r.id != first {
			second = r.id
			break
		}
	}
	n := len(spread[second])
	spread[second][n-1].Close()
	spread[second] = spread[second][:n-1]
	waitFor(t, mqttWait, "haproxy counting the closed connection", func() bool {
		return h.servers(t)[mqttServer(second)].cur == n-1
	})
	ci, err = sub.Connect(ctx)
	if err != nil {
		t.Fatalf("reconnect through haproxy: %v", err)
	}
	now := c.onlineAt(device)
	t.Logf("persistent session: subscribed at %s, reconnected through haproxy at %s: Session Present %v", first, now, ci.SessionPresent)
	if now == first {
		t.Fatalf("the reconnect landed on %s again; want another replica (leastconn, %s had the fewest connections)", now, second)
	}
	if !ci.SessionPresent || ci.Subscribed {
		t.Errorf("reconnect at %s: Session Present %v, subscribed again %v; want the session found with its subscription", now, ci.SessionPresent, ci.Subscribed)
	}
	if owners := c.checkOneOwner(true, device); owners[device] != now {
		t.Errorf("the log names %q the owner; want %s", owners[device], now)
	}

	// --- 3. Published through haproxy at another replica, delivered here.
	var pubAt string
	var pub *clusterkit.Client
	for _, r := range c.rs {
		if r.id != now && len(spread[r.id]) > 0 {
			pubAt, pub = r.id, spread[r.id][0]
			break
		}
	}
	pubName := uniq(t, "pub")
	copiesBefore := metricsOf(c.replica(pubAt).setup.admin, "mqtt_bridge_cluster_copies_total")["mqtt_bridge_cluster_copies_total"]
	var sent []clusterkit.Sent
	for seq := 1; seq <= 50; seq++ {
		s := clusterkit.Sent{Pub: pubName, Seq: seq, QoS: 1, Sent: time.Now()}
		pctx, cancel := context.WithTimeout(ctx, mqttWait)
		err := pub.Publish(pctx, topic, 1, false, faultkit.Payload(pubName, seq, 64))
		cancel()
		s.Done, s.Acked = time.Now(), err == nil
		if err != nil {
			t.Errorf("publish %d at %s through haproxy: %v", seq, pubAt, err)
		}
		sent = append(sent, s)
	}
	waitDelivered(t, sub, sent, kafkaWait)
	rep := checkReceipts(t, fmt.Sprintf("published through haproxy at %s, subscribed through haproxy at %s", pubAt, now), sent, sub)
	if rep.Delivered != len(sent) {
		t.Errorf("delivered %d of %d", rep.Delivered, len(sent))
	}
	copies := metricsOf(c.replica(pubAt).setup.admin, "mqtt_bridge_cluster_copies_total")["mqtt_bridge_cluster_copies_total"] - copiesBefore
	if copies < float64(len(sent)) {
		t.Errorf("%s produced %v copies for %d publishes; want one per publish (the subscriber is on %s)", pubAt, copies, len(sent), now)
	}
	sub.Close()

	// --- 4. Readiness gates haproxy: r3 stopped, then started with a slow
	// heartbeat, so that it runs and listens for about 6 s before it is
	// ready (the replica id check waits two heartbeat intervals).
	r3 := c.replica("r3")
	r3.stop(t)
	waitFor(t, mqttWait, "haproxy marking r3 down", func() bool { return h.servers(t)[mqttServer("r3")].status != "UP" })
	r3.sets = append(r3.sets, "cluster.heartbeat_interval=3s", "cluster.replica_timeout=10s")
	r3.launch(t)
	var gated haproxyServer
	sawGate := false
	for !sawGate && readyz(r3.setup.admin).Code != http.StatusOK {
		gated = h.servers(t)[mqttServer("r3")]
		if code, _ := httpGet(r3.setup.admin, "/healthz"); code == http.StatusOK && readyz(r3.setup.admin).Code == http.StatusServiceUnavailable &&
			gated.status != "UP" && gated.checkStatus == "L7STS" && gated.checkCode == "503" {
			sawGate = true
		}
		time.Sleep(100 * time.Millisecond) // haproxy checks every 2 s
	}
	if !sawGate {
		t.Fatalf("never saw r3 live (/healthz 200) but not ready (/readyz 503) with haproxy holding it down on its /readyz check (last: %+v)", gated)
	}
	t.Logf("r3 live but catching up: haproxy has it %s (check %s, HTTP %s)", gated.status, gated.checkStatus, gated.checkCode)
	// Connections meanwhile go to r1 and r2, and are accepted (not 0x88).
	during := uniq(t, "during")
	connectRetry(t, clusterkit.Options{Addr: h.mqtt, ClientID: during, Version: 5, CleanStart: true})
	if where := c.onlineAt(during); where == "r3" {
		t.Errorf("a client connected through haproxy while r3 was not ready landed on r3")
	}
	r3.waitReady(t)
	began := time.Now()
	waitFor(t, mqttWait, "haproxy marking r3 up once ready", func() bool { return h.servers(t)[mqttServer("r3")].status == "UP" })
	t.Logf("haproxy had r3 up %v after its /readyz turned 200", time.Since(began).Round(100*time.Millisecond))
	// r3 has no connection: leastconn sends it the next one.
	after := uniq(t, "after")
	connectRetry(t, clusterkit.Options{Addr: h.mqtt, ClientID: after, Version: 4, CleanStart: true})
	if where := c.onlineAt(after); where != "r3" {
		st := h.servers(t)
		t.Errorf("the first client after r3 came back landed on %s; want r3, which had no connection (haproxy scur: r1 %d, r2 %d, r3 %d)",
			where, st[mqttServer("r1")].cur, st[mqttServer("r2")].cur, st[mqttServer("r3")].cur)
	}
}
