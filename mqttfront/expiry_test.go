package mqttfront

import (
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// TestSessionExpiryDefault: by default a 3.1.1 persistent session gets a
// finite expiry (max_session_expiry, 7 days), and it does expire.
func TestSessionExpiryDefault(t *testing.T) {
	if got := DefaultConfig().MaxSessionExpiry; got != 7*24*time.Hour {
		t.Errorf("default max_session_expiry = %v; want 168h", got)
	}
	ts := runServer(t, testConfig(""), nil)
	w := mqttwire.Dial(t, ts.addr, packets.V311)
	w.Connect("v3-persistent", mqttwire.Persistent(0))
	ts.mu.RLock()
	ss := ts.sessions["v3-persistent"]
	ts.mu.RUnlock()
	ss.mu.Lock()
	exp := ss.expiry
	ss.mu.Unlock()
	if exp != 7*24*3600 {
		t.Errorf("v3 persistent session expiry %d s; want 604800 (7 days)", exp)
	}

	cfg := testConfig("")
	cfg.MaxSessionExpiry = time.Second
	ts2 := runServer(t, cfg, nil)
	w2 := mqttwire.Dial(t, ts2.addr, packets.V311)
	w2.Connect("v3-short", mqttwire.Persistent(0))
	w2.Send(&packets.Packet{Type: packets.DISCONNECT})
	w2.ExpectClosed(5 * time.Second)
	waitFor(t, 5*time.Second, "the capped v3 session to expire", func() bool { return ts2.Stats().Sessions == 0 })
}
