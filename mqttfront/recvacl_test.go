package mqttfront

import (
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

// aclServer builds (does not run) a server whose ACL denies bob secret/#.
func aclServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := testConfig("")
	cfg.Auth.ACL = auth.ACLConfig{NoMatch: "allow", Rules: []auth.ACLRule{
		{Permission: "deny", Action: "all", Username: "bob", Topics: []string{"secret/#"}},
		{Permission: "allow", Action: "subscribe", Topics: []string{"dev/%c/#"}},
		{Permission: "deny", Action: "subscribe", Topics: []string{"dev/#"}},
	}}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg, &fakeSink{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bobSession() *session {
	ss := newSession("bob-dev")
	ss.username = "bob"
	return ss
}

// checkBounds verifies the cache's invariants: within both bounds, and
// bytes equal to what its keys cost.
func checkBounds(t *testing.T, rc *recvCache, maxEntries, maxBytes int) {
	t.Helper()
	sum := 0
	for k := range rc.m {
		sum += len(k) + recvEntryOverhead
	}
	if sum != rc.bytes {
		t.Fatalf("cache accounts %d bytes; its keys cost %d", rc.bytes, sum)
	}
	if len(rc.m) > maxEntries || rc.bytes > maxBytes {
		t.Fatalf("cache holds %d entries, %d bytes; want at most %d, %d", len(rc.m), rc.bytes, maxEntries, maxBytes)
	}
}

// TestRecvCacheBounded: a client receiving many distinct topics keeps at
// most acl_cache_max_entries decisions and acl_cache_max_bytes bytes, and
// the decisions stay right while entries are evicted.
func TestRecvCacheBounded(t *testing.T) {
	for _, tc := range []struct {
		name              string
		entries, bytes    int
		topicLen          int
		wantCachedAtLeast int
	}{
		{"count bound", 16, 1 << 20, 10, 16},
		{"byte bound", 1000, 1024, 200, 1024 / (200 + recvEntryOverhead)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := aclServer(t, func(c *Config) { c.ACLCacheMaxEntries, c.ACLCacheMaxBytes = tc.entries, tc.bytes })
			ss := bobSession()
			ss.mu.Lock()
			defer ss.mu.Unlock()
			for i := range 5000 {
				prefix := "public/"
				if i%3 == 0 {
					prefix = "secret/"
				}
				n := strconv.Itoa(i)
				topic := prefix + strings.Repeat("x", max(0, tc.topicLen-len(prefix)-len(n))) + n
				if got, want := ss.mayReceiveLocked(s, topic), prefix == "public/"; got != want {
					t.Fatalf("mayReceive(%q) = %v; want %v", topic, got, want)
				}
				checkBounds(t, &ss.recv, tc.entries, tc.bytes)
			}
			if len(ss.recv.m) < tc.wantCachedAtLeast {
				t.Errorf("cache holds %d entries at the end; want at least %d (eviction removes only what it must)", len(ss.recv.m), tc.wantCachedAtLeast)
			}
		})
	}

	t.Run("topic over the byte bound not cached", func(t *testing.T) {
		s := aclServer(t, func(c *Config) { c.ACLCacheMaxBytes = 256 })
		ss := bobSession()
		ss.mu.Lock()
		defer ss.mu.Unlock()
		if !ss.mayReceiveLocked(s, "public/"+strings.Repeat("y", 300)) {
			t.Fatal("long public topic denied")
		}
		if len(ss.recv.m) != 0 {
			t.Errorf("cache holds %d entries; want the long topic left out", len(ss.recv.m))
		}
	})

	t.Run("disabled", func(t *testing.T) {
		s := aclServer(t, func(c *Config) { c.ACLCacheMaxEntries = 0 })
		ss := bobSession()
		ss.mu.Lock()
		defer ss.mu.Unlock()
		if ss.mayReceiveLocked(s, "secret/a") || !ss.mayReceiveLocked(s, "public/a") {
			t.Fatal("wrong decisions without a cache")
		}
		if len(ss.recv.m) != 0 {
			t.Errorf("cache holds %d entries with acl_cache_max_entries 0", len(ss.recv.m))
		}
	})
}

// TestRecvCacheKeyIsCopied: the cache never keeps a topic that points into
// a packet buffer (it would pin the whole buffer).
func TestRecvCacheKeyIsCopied(t *testing.T) {
	s := aclServer(t, nil)
	ss := bobSession()
	buf := []byte("public/pinned and a large payload after it")
	topic := unsafe.String(&buf[0], len("public/pinned"))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.mayReceiveLocked(s, topic)
	for k := range ss.recv.m {
		if unsafe.StringData(k) == &buf[0] {
			t.Fatalf("cached key %q shares the packet buffer; want a copy", k)
		}
	}
}

// TestRecvCacheReload: SetAuth empties each cache at its next check, and a
// configuration without rules skips the check and the cache.
func TestRecvCacheReload(t *testing.T) {
	s := aclServer(t, nil)
	ss := bobSession()
	check := func(topic string, want bool) {
		t.Helper()
		if got := ss.mayReceive(s, topic); got != want {
			t.Errorf("mayReceive(%q) = %v; want %v", topic, got, want)
		}
	}
	check("secret/a", false)
	check("dev/bob-dev/x", true) // %c
	check("dev/other/x", false)

	open, err := auth.NewACL(auth.ACLConfig{NoMatch: "allow"})
	if err != nil {
		t.Fatal(err)
	}
	s.SetAuth(s.authz.Load().a, open)
	check("secret/a", true)
	check("dev/other/x", true)
	if len(ss.recv.m) != 0 {
		t.Errorf("cache after a reload to an ACL without rules = %v; want empty (old decisions gone, none needed)", ss.recv.m)
	}

	deny, err := auth.NewACL(auth.ACLConfig{NoMatch: "deny"})
	if err != nil {
		t.Fatal(err)
	}
	s.SetAuth(s.authz.Load().a, deny)
	check("public/a", false)
	check("secret/a", false)
}

// BenchmarkMayReceive is the per-delivery check alone: a cache hit, a miss
// answered by the ACL (cache off), and the skip without rules.
func BenchmarkMayReceive(b *testing.B) {
	for _, bc := range []struct {
		name    string
		entries int
		open    bool
	}{{"cached", 64, false}, {"uncached", 0, false}, {"no_rules", 64, true}} {
		b.Run(bc.name, func(b *testing.B) {
			s := aclServer(b, func(c *Config) {
				c.ACLCacheMaxEntries = bc.entries
				if bc.open {
					c.Auth.ACL = auth.ACLConfig{NoMatch: "allow"}
				}
			})
			ss := bobSession()
			topic := "dev/bob-dev/telemetry/temperature"
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if !ss.mayReceive(s, topic) {
					b.Fatal("denied")
				}
			}
		})
	}
}
