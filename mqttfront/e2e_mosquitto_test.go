package mqttfront_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
)

// mosquittoBin returns the path of a Debian mosquitto-clients binary. It
// fails under CI=true when the binary is missing (the CI script installs
// it) and skips otherwise.
func mosquittoBin(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (apt-get install -y mosquitto-clients): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// mosquittoSub starts mosquitto_sub with args and waits until the server
// counts one more subscription. It returns a function that waits for the
// process and returns its stdout.
func mosquittoSub(t *testing.T, srv *mqttfront.Server, addr string, args ...string) func() string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	before := srv.Stats().Subscriptions
	cmd := exec.CommandContext(ctx, mosquittoBin(t, "mosquitto_sub"), append([]string{"-h", host, "-p", port, "-i", clientID(t, "msub")}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	waited := false
	wait := func() string {
		if !waited {
			waited = true
			err := cmd.Wait()
			cancel()
			if err != nil {
				t.Errorf("mosquitto_sub: %v; stderr: %s", err, errb.String())
			}
		}
		return out.String()
	}
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			cancel()
		}
	})
	waitFor(t, e2eTimeout, "mosquitto_sub to subscribe", func() bool { return srv.Stats().Subscriptions > before })
	return wait
}

// mosquittoPub runs mosquitto_pub once with args.
func mosquittoPub(t *testing.T, addr string, args ...string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mosquittoBin(t, "mosquitto_pub"), append([]string{"-h", host, "-p", port}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub %v: %v: %s", args, err, out)
	}
}

func TestE2EMosquittoClients(t *testing.T) {
	mosquittoBin(t, "mosquitto_pub")
	sink := newSink()
	srv, addr := startServer(t, nil, sink)

	t.Run("v3.1.1", func(t *testing.T) {
		wait := mosquittoSub(t, srv, addr, "-t", "a/#", "-C", "3", "-v", "-q", "1")
		for _, m := range []string{"a/1 one", "a/2 two", "a/3/x three"} {
			topic, payload, _ := strings.Cut(m, " ")
			mosquittoPub(t, addr, "-q", "1", "-t", topic, "-m", payload)
		}
		got := strings.Split(strings.TrimSpace(wait()), "\n")
		want := []string{"a/1 one", "a/2 two", "a/3/x three"}
		if !slices.Equal(got, want) {
			t.Errorf("mosquitto_sub printed %q; want %q", got, want)
		}
		if n := len(byTopic(sink, "a/2")); n != 1 {
			t.Errorf("sink got %d messages on a/2; want 1", n)
		}
	})
	t.Run("v5 user property", func(t *testing.T) {
		wait := mosquittoSub(t, srv, addr, "-V", "mqttv5", "-t", "b/#", "-C", "1", "-F", "%t %p %P", "-q", "1")
		mosquittoPub(t, addr, "-V", "mqttv5", "-q", "1", "-t", "b/1", "-m", "hello", "-D", "publish", "user-property", "k", "v")
		got := strings.TrimSpace(wait())
		if !strings.HasPrefix(got, "b/1 hello") || !strings.Contains(got, "k:v") {
			t.Errorf("mosquitto_sub -V mqttv5 printed %q; want topic, payload and user property k:v", got)
		}
		ms := byTopic(sink, "b/1")
		if len(ms) != 1 {
			t.Fatalf("sink got %d messages on b/1; want 1", len(ms))
		}
		if u := ms[0].Properties.User; len(u) != 1 || u[0].Key != "k" || u[0].Value != "v" {
			t.Errorf("sink user properties %v; want k=v", u)
		}
	})
	t.Run("mosquitto_pub to paho", func(t *testing.T) {
		var in inbox
		c := connectV3(t, v3Opts(t, addr))
		subV3(t, c, "m2p/t", 2, &in)
		mosquittoPub(t, addr, "-q", "2", "-t", "m2p/t", "-m", "via mosquitto")
		in.waitMsg(t, "m2p/t", "via mosquitto")
	})
}
