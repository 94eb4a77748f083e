package admin_test

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

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
)

// adminSet loads admin.* overrides through Load (as --set would) into the
// test's config, keeping its address.
func adminSet(t *testing.T, kv ...string) func(*bridge.Config) {
	return func(c *bridge.Config) {
		l, err := bridge.Load("", nil, kv)
		if err != nil {
			t.Fatalf("Load --set %q: %v", kv, err)
		}
		addr := c.Admin.Address
		c.Admin = l.Admin
		c.Admin.Address = addr
	}
}

// closedWithin reports how long the server took to close nc (reading
// nothing more), failing after limit.
func closedWithin(t *testing.T, nc net.Conn, br *bufio.Reader, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = nc.SetReadDeadline(start.Add(limit))
	b, err := br.ReadByte()
	switch {
	case err == nil:
		t.Fatalf("read byte %q; want the server to close the idle connection", b)
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("connection still open after %v", limit)
	case !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset"):
		t.Fatalf("read: %v; want EOF", err)
	}
	return time.Since(start)
}

// A keep-alive connection left idle is closed after admin.idle_timeout.
func TestAdminIdleTimeout(t *testing.T) {
	b, _ := apiBridge(t, adminSet(t, "admin.idle_timeout=300ms"))
	nc, err := net.Dial("tcp", b.AdminAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := io.WriteString(nc, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("GET /healthz = %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	if took := closedWithin(t, nc, br, 5*time.Second); took < 200*time.Millisecond {
		t.Errorf("idle connection closed after %v; want about admin.idle_timeout (300ms)", took)
	}
}

// A request whose body stalls is cut off after admin.read_timeout, and
// headers beyond admin.max_header_bytes get 431.
func TestAdminReadTimeoutAndHeaderLimit(t *testing.T) {
	b, base := apiBridge(t, adminSet(t, "admin.read_header_timeout=300ms", "admin.read_timeout=300ms", "admin.max_header_bytes=4096"))
	nc, err := net.Dial("tcp", b.AdminAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Announces 100 bytes, sends 2.
	if _, err := io.WriteString(nc, "POST /api/v1/explain HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\""); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The handler's decode fails at the deadline (400), then the
	// connection closes; or it closes straight away.
	if resp, err := http.ReadResponse(br, nil); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("no answer and no close 5 s after a stalled body; want admin.read_timeout (300ms) to end it")
	}
	closedWithin(t, nc, br, 5*time.Second)

	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("GET with 16 KiB of headers = %d; want 431 (admin.max_header_bytes 4096)", resp.StatusCode)
	}
}

// The publish API is off unless admin.publish_allow names topics, and
// retained publishes need admin.publish_retain.
func TestAdminPublishDefaults(t *testing.T) {
	if d := bridge.DefaultConfig().Admin; len(d.PublishAllow) != 0 {
		t.Errorf("default admin.publish_allow = %q; want [] (publish API off)", d.PublishAllow)
	}
	_, base := apiBridge(t, func(c *bridge.Config) { c.Admin = bridge.DefaultConfig().Admin; c.Admin.Address = "127.0.0.1:0" })
	var e struct{ Error string }
	if code := call(t, "POST", base+"/api/v1/publish", map[string]any{"topic": "devices/d1/commands", "payload": "x"}, &e); code != 403 ||
		!strings.Contains(e.Error, "admin.publish_allow") {
		t.Errorf("POST publish with the default config = %d %q; want 403 naming admin.publish_allow", code, e.Error)
	}

	_, base = apiBridge(t, adminSet(t, "admin.publish_allow=devices/#"))
	if code := call(t, "POST", base+"/api/v1/publish", map[string]any{"topic": "devices/d1/commands", "payload": "x", "retain": true}, &e); code != 403 ||
		!strings.Contains(e.Error, "admin.publish_retain") {
		t.Errorf("retained POST publish without admin.publish_retain = %d %q; want 403 naming admin.publish_retain", code, e.Error)
	}
	if code := call(t, "POST", base+"/api/v1/publish", map[string]any{"topic": "devices/d1/commands", "payload": "x"}, nil); code != 200 {
		t.Errorf("POST publish allowed by admin.publish_allow = %d; want 200", code)
	}
	_, base = apiBridge(t, adminSet(t, "admin.publish_allow=devices/#", "admin.publish_retain=true"))
	if code := call(t, "POST", base+"/api/v1/publish", map[string]any{"topic": "devices/d1/commands", "payload": "x", "retain": true}, nil); code != 200 {
		t.Errorf("retained POST publish with admin.publish_retain = %d; want 200", code)
	}
}
