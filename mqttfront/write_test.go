package mqttfront

import (
	"bufio"
	"errors"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// TestWriteWaitsForConnack: nothing queued on a connection goes out before
// its CONNACK, the first packet a server sends [MQTT-3.2.0-1]; what waited
// follows an accepting CONNACK in order and is dropped after a refusing
// one. Every path (one node or cluster) that delivers to a session between
// attach and CONNACK meets this gate.
func TestWriteWaitsForConnack(t *testing.T) {
	for _, tc := range []struct {
		name string
		code packets.ReasonCode
		want []string // packet types, then the payloads of PUBLISHes
	}{
		{"accepted", packets.Success, []string{"CONNACK", "PUBLISH one", "PUBLISH two", "PINGRESP"}},
		{"refused", packets.NotAuthorized, []string{"CONNACK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(testConfig(t.TempDir()), &fakeSink{}, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			srvSide, cliSide := net.Pipe()
			t.Cleanup(func() { _ = cliSide.Close(); _ = srvSide.Close() })
			c := &conn{s: s, nc: srvSide, version: packets.V5, done: make(chan struct{})}
			c.sendQoS0(mqttwire.Publish("t", "one", 0, 0))
			c.send(mqttwire.Publish("t", "two", 1, 7))

			br := bufio.NewReader(cliSide)
			_ = cliSide.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if p, err := packets.Read(br, packets.V5, 0); err == nil {
				t.Fatalf("%v written before any CONNACK; want nothing", p.Type)
			}
			c.send(&packets.Packet{Type: packets.CONNACK, ReasonCode: tc.code})
			if tc.code == packets.Success {
				c.send(&packets.Packet{Type: packets.PINGRESP}) // after the CONNACK, as usual
			}
			c.closeWrite()
			var got []string
			for {
				_ = cliSide.SetReadDeadline(time.Now().Add(5 * time.Second))
				p, err := packets.Read(br, packets.V5, 0)
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
					break
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("connection still open after %v (got %q)", 5*time.Second, got)
				}
				if err != nil {
					t.Fatal(err)
				}
				g := p.Type.String()
				if p.Type == packets.PUBLISH {
					g += " " + string(p.Payload)
				}
				got = append(got, g)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("written: %q; want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("written: %q; want %q", got, tc.want)
				}
			}
			// The writer goroutine is done (socket closed); Run was never
			// called, so nothing else runs.
			s.wg.Wait()
		})
	}
}
