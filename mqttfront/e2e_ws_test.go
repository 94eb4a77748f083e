package mqttfront_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit"
	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// wsServer runs a server with only the plain WebSocket listener on
// 127.0.0.1:0 (path /mqtt), then mutate, and returns it with its address.
func wsServer(t *testing.T, mutate func(*mqttfront.Config)) (*mqttfront.Server, string) {
	t.Helper()
	srv, _ := startServer(t, func(c *mqttfront.Config) {
		c.Listeners.WS = mqttfront.ListenerConfig{Enabled: true, Address: "127.0.0.1:0", Path: "/mqtt"}
		if mutate != nil {
			mutate(c)
		}
	}, nil)
	return srv, srv.Addr("ws").String()
}

// wsDial opens an MQTT WebSocket as a browser page on origin would ("" =
// a non-browser client, no Origin header) and returns the handshake status.
func wsDial(t *testing.T, addr, origin string) (*websocket.Conn, int) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: e2eTimeout}
	ws, resp, err := d.Dial("ws://"+addr+"/mqtt", h)
	if resp == nil {
		t.Fatalf("websocket dial with Origin %q: %v", origin, err)
	}
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp.StatusCode
}

// A page on another site must not reach the broker through the browser:
// with an Origin header, only the listener's own origin and
// listeners.<ws|wss>.allowed_origins are accepted (EMQX check_origins).
func TestE2EWebSocketOrigin(t *testing.T) {
	srv, addr := wsServer(t, nil)
	for _, tt := range []struct {
		origin string
		status int
	}{
		{"", http.StatusSwitchingProtocols}, // paho, mosquitto, devices
		{"http://" + addr, http.StatusSwitchingProtocols},
		{"https://" + addr, http.StatusSwitchingProtocols}, // behind a TLS proxy
		{"https://evil.example", http.StatusForbidden},
		{"http://127.0.0.1:1", http.StatusForbidden}, // another port is another origin
		{"null", http.StatusForbidden},
	} {
		ws, code := wsDial(t, addr, tt.origin)
		if code != tt.status {
			t.Errorf("dial with Origin %q = %d; want %d", tt.origin, code, tt.status)
		}
		if ws != nil && tt.status == http.StatusSwitchingProtocols {
			// The session works: CONNECT, CONNACK.
			if err := ws.WriteMessage(websocket.BinaryMessage, mqttwire.Encode(packets.V311, mqttwire.ConnectPacket(packets.V311, clientID(t, "ws"), mqttwire.KeepAlive(30)))); err != nil {
				t.Fatal(err)
			}
			_ = ws.SetReadDeadline(time.Now().Add(e2eTimeout))
			if _, b, err := ws.ReadMessage(); err != nil || len(b) < 4 || b[0] != 0x20 || b[3] != 0 {
				t.Errorf("Origin %q: CONNACK % X, %v; want success", tt.origin, b, err)
			}
		}
	}
	if got := srv.Stats().Disconnects["origin_rejected"]; got != 3 {
		t.Errorf(`disconnects["origin_rejected"] = %d; want 3`, got)
	}

	_, addr = wsServer(t, func(c *mqttfront.Config) {
		testkit.Set(t, c, "listeners.ws.allowed_origins", []string{"https://app.example.com"})
	})
	for _, tt := range []struct {
		origin string
		status int
	}{
		{"https://app.example.com", http.StatusSwitchingProtocols},
		{"https://APP.example.com", http.StatusSwitchingProtocols},
		{"http://app.example.com", http.StatusForbidden},
		{"https://evil.example", http.StatusForbidden},
		{"http://" + addr, http.StatusSwitchingProtocols},
	} {
		if _, code := wsDial(t, addr, tt.origin); code != tt.status {
			t.Errorf("allowed_origins [https://app.example.com]: dial with Origin %q = %d; want %d", tt.origin, code, tt.status)
		}
	}

	_, addr = wsServer(t, func(c *mqttfront.Config) { testkit.Set(t, c, "listeners.ws.allowed_origins", []string{"*"}) })
	if _, code := wsDial(t, addr, "https://evil.example"); code != http.StatusSwitchingProtocols {
		t.Errorf(`allowed_origins ["*"]: dial from another site = %d; want 101`, code)
	}
}

// The WebSocket listener's HTTP server closes a keep-alive connection that
// sends no request within connect_timeout, and refuses oversized headers;
// an upgraded MQTT session is not bound by those deadlines.
func TestE2EWebSocketHTTPTimeouts(t *testing.T) {
	_, addr := wsServer(t, func(c *mqttfront.Config) { testkit.Set(t, c, "connect_timeout", 300*time.Millisecond) })

	t.Run("idle keep-alive closed", func(t *testing.T) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		// Not an upgrade: answered (400) on a kept-alive connection.
		if _, err := io.WriteString(nc, "GET /mqtt HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(nc)
		_ = nc.SetReadDeadline(time.Now().Add(e2eTimeout))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		start := time.Now()
		_ = nc.SetReadDeadline(start.Add(5 * time.Second))
		_, err = br.ReadByte()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("idle keep-alive connection still open after 5 s; want it closed after connect_timeout (300ms)")
		}
		if took := time.Since(start); took < 200*time.Millisecond {
			t.Errorf("closed after %v; want about connect_timeout (300ms)", took)
		}
	})

	t.Run("header limit", func(t *testing.T) {
		h := http.Header{"X-Big": {strings.Repeat("a", 64<<10)}}
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: e2eTimeout}
		ws, resp, err := d.Dial("ws://"+addr+"/mqtt", h)
		if err == nil {
			ws.Close()
		}
		if resp == nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("dial with 64 KiB of headers: %v; want 431", err)
		}
	})

	t.Run("session outlives the HTTP deadlines", func(t *testing.T) {
		ws, code := wsDial(t, addr, "")
		if code != http.StatusSwitchingProtocols {
			t.Fatalf("dial = %d; want 101", code)
		}
		if err := ws.WriteMessage(websocket.BinaryMessage, mqttwire.Encode(packets.V311, mqttwire.ConnectPacket(packets.V311, clientID(t, "ws"), mqttwire.KeepAlive(30)))); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(e2eTimeout))
		if _, b, err := ws.ReadMessage(); err != nil || len(b) < 4 || b[0] != 0x20 {
			t.Fatalf("CONNACK % X, %v", b, err)
		}
		// Idle for three times the HTTP server's timeouts: nothing to
		// poll for, the point is that nothing happens.
		<-time.After(900 * time.Millisecond)
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte{0xC0, 0}); err != nil { // PINGREQ
			t.Fatalf("PINGREQ after idling: %v", err)
		}
		if _, b, err := ws.ReadMessage(); err != nil || len(b) != 2 || b[0] != 0xD0 {
			t.Fatalf("after idling past the HTTP timeouts: read % X, %v; want PINGRESP", b, err)
		}
	})
}
