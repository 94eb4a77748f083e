package cluster

// Three replicas in one process: three mqttfront servers, each with its
// Node and Sessions, against the real Kafka, with real MQTT 5 clients
// (paho.golang) over TCP.

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/bcrypt"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

// replica is one replica of a test cluster: a node, its broker and its
// router.
type replica struct {
	id     string
	node   *Node
	srv    *mqttfront.Server
	router *Router
	addr   string
	sink   *recSink
	// stop stops the broker, then the node (idempotent; also at the
	// test's end); kill crashes the node as kill -9 would, then stops the
	// broker. Whichever comes first wins. dirs are the data dirs of the
	// node and the broker, for a restart (startReplica with the same dirs).
	stop, kill       func()
	nodeDir, mqttDir string
}

// nopSink acks every publish.
type nopSink struct{}

func (nopSink) Submit(_ *mqttfront.Message, done func(error)) {
	if done != nil {
		done(nil)
	}
}

// recSink acks every publish and records the topic and payload of each.
type recSink struct {
	mu  sync.Mutex
	got []string
}

func (s *recSink) Submit(m *mqttfront.Message, done func(error)) {
	s.mu.Lock()
	s.got = append(s.got, m.Topic+" "+string(m.Payload))
	s.mu.Unlock()
	if done != nil {
		done(nil)
	}
}

func (s *recSink) count(entry string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, g := range s.got {
		if g == entry {
			n++
		}
	}
	return n
}

// replicaOpts change a test cluster: ccfg its cluster config, mod the
// brokers' config; janitor attaches each front end to its node's janitor.
type replicaOpts struct {
	ccfg    func(*Config)
	mod     func(*mqttfront.Config)
	janitor bool
}

// startReplicas starts n replicas r1..rn of one cluster; mod changes
// their mqtt config. Everything stops in t.Cleanup.
func startReplicas(t *testing.T, n int, ccfg func(*Config), mod func(*mqttfront.Config)) []*replica {
	t.Helper()
	return startReplicasWith(t, n, replicaOpts{ccfg: ccfg, mod: mod})
}

func startReplicasWith(t *testing.T, n int, o replicaOpts) []*replica {
	t.Helper()
	base := testConfig(t, "")
	if o.ccfg != nil {
		o.ccfg(&base)
	}
	var rs []*replica
	for i := 1; i <= n; i++ {
		cfg := base
		cfg.ReplicaID = fmt.Sprintf("r%d", i)
		rs = append(rs, startReplicaWith(t, cfg, t.TempDir(), t.TempDir(), o))
	}
	return rs
}

// startReplica starts one replica with its node's and broker's data dirs
// (the same ones again: a restart) and returns once both serve.
func startReplica(t *testing.T, cfg Config, nodeDir, mqttDir string, mod func(*mqttfront.Config)) *replica {
	t.Helper()
	return startReplicaWith(t, cfg, nodeDir, mqttDir, replicaOpts{mod: mod})
}

func startReplicaWith(t *testing.T, cfg Config, nodeDir, mqttDir string, o replicaOpts) *replica {
	t.Helper()
	_, bootstrap := testAdmin(t)
	node, err := New(cfg, []string{bootstrap}, saramaTestConfig(), nodeDir, zaptest.NewLogger(t).Named(cfg.ReplicaID))
	if err != nil {
		t.Fatal(err)
	}
	mc := mqttfront.DefaultConfig()
	mc.DataDir = mqttDir
	mc.Auth.AllowAnonymous = true
	mc.Listeners.TCP = mqttfront.ListenerConfig{Enabled: true, Address: "127.0.0.1:0"}
	mc.SysInterval = 0
	if o.mod != nil {
		o.mod(&mc)
	}
	sink := &recSink{}
	srv, err := mqttfront.New(mc, sink, zaptest.NewLogger(t).Named(cfg.ReplicaID))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetSessionClaimer(NewSessions(node, srv))
	router := NewRouter(node, srv)
	srv.SetRemoteRouter(router)
	if o.janitor {
		node.Janitor().Attach(srv)
	}

	ctx, cancel := context.WithCancel(context.Background())
	srvCtx, srvCancel := context.WithCancel(context.Background())
	nodeDone, srvDone := make(chan error, 1), make(chan error, 1)
	srvStarted := false
	go func() { nodeDone <- node.Run(ctx) }()
	var once sync.Once
	report := func(srvErr, nodeErr error) {
		if srvErr != nil {
			t.Errorf("%s: mqtt Run: %v", cfg.ReplicaID, srvErr)
		}
		if nodeErr != nil {
			t.Errorf("%s: node Run: %v", cfg.ReplicaID, nodeErr)
		}
	}
	stop := func() {
		once.Do(func() {
			// The broker first: its last session writes need the node.
			srvCancel()
			var srvErr error
			if srvStarted {
				srvErr = <-srvDone
			}
			cancel()
			report(srvErr, <-nodeDone)
		})
	}
	kill := func() {
		once.Do(func() {
			node.crash() // no write, no stopping heartbeat from now on
			nodeErr := <-nodeDone
			srvCancel()
			var srvErr error
			if srvStarted {
				srvErr = <-srvDone
			}
			cancel()
			report(srvErr, nodeErr)
		})
	}
	t.Cleanup(stop)
	select {
	case <-node.Ready():
	case err := <-nodeDone:
		nodeDone <- err
		t.Fatalf("%s: node stopped before ready: %v", cfg.ReplicaID, err)
	case <-time.After(defaultWait):
		t.Fatalf("%s: node not ready after %v", cfg.ReplicaID, defaultWait)
	}
	srvStarted = true
	go func() { srvDone <- srv.Run(srvCtx) }()
	select {
	case <-srv.Ready():
	case err := <-srvDone:
		srvDone <- err
		t.Fatalf("%s: mqtt stopped before ready: %v", cfg.ReplicaID, err)
	}
	return &replica{id: cfg.ReplicaID, node: node, srv: srv, router: router, addr: srv.Addr("tcp").String(),
		sink: sink, stop: stop, kill: kill, nodeDir: nodeDir, mqttDir: mqttDir}
}

// client is a paho.golang v5 client with what the tests watch.
type client struct {
	*paho.Client
	connack     *paho.Connack
	disconnects chan *paho.Disconnect
	got         chan *paho.Publish
}

func u32(v uint32) *uint32 { return &v }

// dialClient connects a v5 client to addr with a session expiry of 300 s;
// it returns the error of Connect (c.connack holds a CONNACK if one came).
func dialClient(t *testing.T, addr, id, user string, clean bool) (*client, error) {
	t.Helper()
	return dialClientWith(t, addr, id, user, clean, nil)
}

// dialClientWith is dialClient with mod changing the CONNECT.
func dialClientWith(t *testing.T, addr, id, user string, clean bool, mod func(*paho.Connect)) (*client, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &client{disconnects: make(chan *paho.Disconnect, 1), got: make(chan *paho.Publish, 1024)}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID: id,
		Conn:     nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			select {
			case c.got <- pr.Packet:
			default:
			}
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case c.disconnects <- d:
			default:
			}
		},
		OnClientError: func(error) {},
		PacketTimeout: defaultWait,
	})
	cp := &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: u32(300), RequestProblemInfo: true}}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(user+"-pw"), true
	}
	if mod != nil {
		mod(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	c.connack, err = c.Connect(ctx, cp)
	t.Cleanup(c.close)
	return c, err
}

func connectClient(t *testing.T, addr, id, user string, clean bool) *client {
	t.Helper()
	c, err := dialClient(t, addr, id, user, clean)
	if err != nil {
		t.Fatalf("connect %s to %s: %v (connack %+v)", id, addr, err, c.connack)
	}
	return c
}

func (c *client) close() { testkit.CloseV5(c.Client) }

func (c *client) alive() bool {
	select {
	case <-c.Done():
		return false
	default:
		return true
	}
}

func (c *client) subscribe(t *testing.T, filter string, qos byte) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if sa == nil {
		t.Fatalf("subscribe %q: %v", filter, err)
	}
	return sa.Reasons[0]
}

func (c *client) publish(t *testing.T, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}); err != nil {
		t.Fatalf("publish %q: %v", topic, err)
	}
}

func (c *client) expect(t *testing.T, topic, payload string) {
	t.Helper()
	select {
	case p := <-c.got:
		if p.Topic != topic || string(p.Payload) != payload {
			t.Fatalf("received %q %q; want %q %q", p.Topic, p.Payload, topic, payload)
		}
	case <-time.After(defaultWait):
		t.Fatalf("nothing received on %q within %v", topic, defaultWait)
	}
}

var clientSeq atomic.Int64

func clientName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, clientSeq.Add(1))
}

// TestClusterSessionFollowsDevice: a persistent session subscribed at r1
// reconnects at r3 and finds it: Session Present, and its subscription
// active there (a publish at r3 reaches it).
func TestClusterSessionFollowsDevice(t *testing.T) {
	rs := startReplicas(t, 3, nil, nil)
	id := clientName("dev")
	d := connectClient(t, rs[0].addr, id, "", true)
	if d.connack.SessionPresent {
		t.Fatalf("first CONNECT at r1: Session Present; want a new session")
	}
	if code := d.subscribe(t, "cs/+/t", 1); code != 1 {
		t.Fatalf("SUBACK at r1 = %#x; want 0x01", code)
	}
	d.close()
	// Every replica has the subscription from the log.
	for _, r := range rs {
		waitFor(t, defaultWait, r.id+" to see the subscription offline", func() bool {
			st, _, ok := r.node.Claims().State(id)
			return ok && len(st.Subscriptions) == 1 && st.Subscriptions[0].Filter == "cs/+/t" && !st.DisconnectedAt.IsZero()
		})
	}

	d3 := connectClient(t, rs[2].addr, id, "", false)
	if !d3.connack.SessionPresent {
		t.Fatalf("CONNECT at r3 after the session lived at r1: Session Present 0; want 1")
	}
	if _, subs, ok := rs[2].srv.Client(id); !ok || len(subs) != 1 || subs[0].Filter != "cs/+/t" || subs[0].QoS != 1 {
		t.Fatalf("r3's session for %s: %v, %+v; want the subscription cs/+/t QoS 1", id, ok, subs)
	}
	if _, _, ok := rs[0].srv.Client(id); ok {
		t.Fatalf("r1 still holds a session for %s after r3 claimed it", id)
	}
	pub := connectClient(t, rs[2].addr, clientName("pub"), "", true)
	pub.publish(t, "cs/x/t", "hello")
	d3.expect(t, "cs/x/t", "hello")
}

// TestClusterSessionTakeover: the same client id online at r1, then
// connecting at r2: r1's connection gets DISCONNECT 0x8E.
func TestClusterSessionTakeover(t *testing.T) {
	rs := startReplicas(t, 2, nil, nil)
	id := clientName("dev")
	d1 := connectClient(t, rs[0].addr, id, "", true)
	d1.subscribe(t, "tk/#", 1)
	d2 := connectClient(t, rs[1].addr, id, "", false)
	select {
	case dp := <-d1.disconnects:
		if dp.ReasonCode != 0x8E {
			t.Fatalf("r1's connection got DISCONNECT %#x; want 0x8E (Session taken over)", dp.ReasonCode)
		}
	case <-time.After(defaultWait):
		t.Fatalf("r1's connection got no DISCONNECT within %v", defaultWait)
	}
	if !d2.connack.SessionPresent {
		t.Fatalf("takeover at r2: Session Present 0; want 1")
	}
	waitFor(t, defaultWait, "r1 to drop its session", func() bool {
		_, _, ok := rs[0].srv.Client(id)
		return !ok
	})
	if !d2.alive() {
		t.Fatalf("the new connection at r2 was closed")
	}
}

// TestClusterConnectRace: three CONNECTs with one client id, one per
// replica, at once, 100 rounds. Each round exactly one connection stays,
// at the replica every replica names as the owner; no other replica has
// the session online.
func TestClusterConnectRace(t *testing.T) {
	rs := startReplicas(t, 3, nil, nil)
	id := clientName("race")
	const rounds = 100
	refused, superseded := 0, 0
	start := time.Now()
	for round := range rounds {
		clients := make([]*client, len(rs))
		errs := make([]error, len(rs))
		var wg sync.WaitGroup
		for i, r := range rs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				clients[i], errs[i] = dialClient(t, r.addr, id, "", false)
			}()
		}
		wg.Wait()
		var top Owner
		for _, r := range rs {
			if o, _ := r.node.Claims().Owner(id); o.Epoch > top.Epoch {
				top = o
			}
		}
		waitFor(t, defaultWait, "the replicas to agree on the owner", func() bool {
			for _, r := range rs {
				if o, _ := r.node.Claims().Owner(id); o != top {
					return false
				}
			}
			return true
		})
		waitFor(t, defaultWait, "one connection to remain", func() bool {
			n := 0
			for _, c := range clients {
				if c.alive() {
					n++
				}
			}
			return n <= 1
		})
		winner := -1
		for i, c := range clients {
			switch {
			case c.alive():
				winner = i
			case errs[i] != nil:
				refused++
			default:
				superseded++
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no connection remains (errors %v); the owner is %+v", round, errs, top)
		}
		if rs[winner].id != top.Replica {
			t.Fatalf("round %d: the connection at %s remains, but every replica names %s the owner", round, rs[winner].id, top.Replica)
		}
		for i, r := range rs {
			ci, _, ok := r.srv.Client(id)
			online := ok && ci.Online
			if online != (i == winner) {
				// The loser's session may still be on its way out.
				waitFor(t, defaultWait, fmt.Sprintf("round %d: %s to hold the session online only if it owns it", round, r.id), func() bool {
					ci, _, ok := r.srv.Client(id)
					return (ok && ci.Online) == (i == winner)
				})
			}
		}
		clients[winner].close()
	}
	t.Logf("%d rounds of 3 concurrent CONNECTs in %v: %d refused before CONNACK, %d closed with 0x8E after it",
		rounds, time.Since(start), refused, superseded)
}

// TestClusterSessionOwnerBinding: with bind_client_id_to_user, another
// user's CONNECT with the client id at another replica is refused (0x85),
// online or offline, and changes nothing.
func TestClusterSessionOwnerBinding(t *testing.T) {
	alice, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := bcrypt.GenerateFromPassword([]byte("bob-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	rs := startReplicas(t, 3, nil, func(c *mqttfront.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.BindClientIDToUser = true
		c.Auth.Users = []auth.User{{Username: "alice", PasswordHash: string(alice)}, {Username: "bob", PasswordHash: string(bob)}}
	})
	id := clientName("alice-dev")
	a := connectClient(t, rs[0].addr, id, "alice", true)
	a.subscribe(t, "own/#", 1)

	// Online at r1: bob at r2 is refused and alice stays connected.
	for _, clean := range []bool{false, true} {
		b, err := dialClient(t, rs[1].addr, id, "bob", clean)
		if err == nil || b.connack == nil || b.connack.ReasonCode != 0x85 {
			t.Fatalf("bob (clean %v) at r2 while alice is online at r1: %v, connack %+v; want CONNACK 0x85", clean, err, b.connack)
		}
	}
	if o, _ := rs[1].node.Claims().Owner(id); o.Replica != "r1" {
		t.Fatalf("owner after bob's refused claims = %+v; want r1", o)
	}
	select {
	case dp := <-a.disconnects:
		t.Fatalf("alice was disconnected (%#x) by bob's refused CONNECT", dp.ReasonCode)
	case <-time.After(200 * time.Millisecond):
	}
	if !a.alive() {
		t.Fatalf("alice's connection was closed by bob's refused CONNECT")
	}

	// Offline: bob at r3 is refused; alice at r3 finds her session.
	a.close()
	waitFor(t, defaultWait, "r3 to see the session offline", func() bool {
		st, _, ok := rs[2].node.Claims().State(id)
		return ok && !st.DisconnectedAt.IsZero()
	})
	b, err := dialClient(t, rs[2].addr, id, "bob", false)
	if err == nil || b.connack == nil || b.connack.ReasonCode != 0x85 {
		t.Fatalf("bob at r3 with alice's offline session: %v, connack %+v; want CONNACK 0x85", err, b.connack)
	}
	a3 := connectClient(t, rs[2].addr, id, "alice", false)
	if !a3.connack.SessionPresent {
		t.Fatalf("alice at r3: Session Present 0; want 1")
	}
}

// TestClusterSubscribeRecordTooLarge: a SUBSCRIBE that would make the
// session's record exceed cluster.max_session_record_bytes gets SUBACK
// 0x97 and is not active.
func TestClusterSubscribeRecordTooLarge(t *testing.T) {
	rs := startReplicas(t, 1, func(c *Config) { c.MaxSessionRecordBytes = 4096 }, nil)
	d := connectClient(t, rs[0].addr, clientName("big"), "", true)
	if code := d.subscribe(t, "small/t", 1); code != 1 {
		t.Fatalf("SUBACK for a small filter = %#x; want 0x01", code)
	}
	long := "big/" + string(make([]byte, 0, 0))
	for len(long) < 5000 {
		long += "abcdefghij"
	}
	if code := d.subscribe(t, long, 1); code != 0x97 {
		t.Fatalf("SUBACK for a %d-byte filter beyond the 4096-byte record = %#x; want 0x97", len(long), code)
	}
	_, subs, _ := rs[0].srv.Client(d.ClientID())
	if len(subs) != 1 || subs[0].Filter != "small/t" {
		t.Fatalf("subscriptions after the refused SUBSCRIBE: %+v; want small/t only", subs)
	}
	if st, _, _ := rs[0].node.Claims().State(d.ClientID()); len(st.Subscriptions) != 1 {
		t.Fatalf("the log's state has %d subscriptions; want 1", len(st.Subscriptions))
	}
}

// TestClusterSessionReconnectSameReplica: a persistent session that goes
// offline and reconnects at the replica that owns it keeps the messages
// queued for it meanwhile: its own new claim is no takeover by another
// replica (the local session is resumed, as on one node).
func TestClusterSessionReconnectSameReplica(t *testing.T) {
	rs := startReplicas(t, 1, nil, nil)
	id := clientName("back")
	d := connectClient(t, rs[0].addr, id, "", true)
	d.subscribe(t, "same/#", 1)
	d.close()
	pub := connectClient(t, rs[0].addr, clientName("pub"), "", true)
	for i := range 5 {
		pub.publish(t, "same/t", fmt.Sprint(i))
	}
	back := connectClient(t, rs[0].addr, id, "", false)
	if !back.connack.SessionPresent {
		t.Fatalf("reconnect at r1: Session Present 0; want 1")
	}
	for i := range 5 {
		back.expect(t, "same/t", fmt.Sprint(i))
	}
}
