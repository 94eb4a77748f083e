package mqttfront

import (
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// TestReadTimeoutStalledPacket: a packet whose first bytes arrived must be
// complete within read_timeout, whatever the keepalive (issue 10: with
// keepalive 0 a stalled PUBLISH header held its connection forever).
func TestReadTimeoutStalledPacket(t *testing.T) {
	for _, tt := range []struct {
		name      string
		v         packets.Version
		keepAlive uint16
	}{
		{"keepalive 0", packets.V311, 0},
		{"keepalive 60 s", packets.V5, 60},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("")
			cfg.ReadTimeout = 300 * time.Millisecond
			ts := runServer(t, cfg, nil)
			w := mqttwire.Dial(t, ts.addr, tt.v)
			w.Connect("stall", func(p *packets.Packet) { p.Connect.KeepAlive = tt.keepAlive })
			// A PUBLISH announcing 100 bytes, of which 5 are sent.
			w.SendRaw([]byte{0x30, 100, 0, 3, 'a', '/', 'b'})
			start := time.Now()
			w.ExpectClosed(5 * time.Second)
			if el := time.Since(start); el < 250*time.Millisecond {
				t.Errorf("closed after %v; want read_timeout (300ms)", el)
			}
			waitFor(t, 5*time.Second, "read_timeout counted", func() bool { return ts.Stats().Disconnects["read_timeout"] == 1 })
		})
	}
}

// TestReadTimeoutNotWhileIdle: read_timeout runs only inside a packet;
// an idle connection with keepalive 0 stays open, and a packet that
// arrives in pieces within the timeout is read.
func TestReadTimeoutNotWhileIdle(t *testing.T) {
	cfg := testConfig("")
	cfg.ReadTimeout = 300 * time.Millisecond
	ts := runServer(t, cfg, nil)
	w := mqttwire.Dial(t, ts.addr, packets.V311)
	w.Connect("idle", func(p *packets.Packet) { p.Connect.KeepAlive = 0 })
	w.ExpectNothing(3 * cfg.ReadTimeout)
	w.SendRaw([]byte{0xC0}) // PINGREQ, first byte
	w.ExpectNothing(cfg.ReadTimeout / 3)
	w.SendRaw([]byte{0x00})
	w.Expect(packets.PINGRESP)
}
