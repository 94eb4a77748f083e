package mqttfront_test

// A password flood from one address must not starve logins from others:
// bcrypt work is bounded and an address that keeps failing is refused
// without bcrypt (mqtt.auth.failure_backoff).

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/iotbridge/mqtt-kafka-bridge/internal/testkit/mqttwire"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// connectOnce dials addr from local (nil = any), sends CONNECT as user with
// password and returns the CONNACK reason code. Closing the socket when ctx
// ends makes a blocked read return.
func connectOnce(ctx context.Context, addr string, local net.Addr, level byte, user, password string) (byte, error) {
	d := net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	v := packets.Version(level)
	c := mqttwire.ConnectPacket(v, fmt.Sprintf("flood-%d", idSeq.Add(1)), mqttwire.KeepAlive(30), mqttwire.Login(user, password))
	if _, err := nc.Write(mqttwire.Encode(v, c)); err != nil {
		return 0, err
	}
	// CONNACK: 0x20, remaining length, then flags, code (v3 and v5 alike).
	f, err := mqttwire.ReadFrame(bufio.NewReader(nc))
	if err != nil {
		return 0, err
	}
	if f[0] != 0x20 || len(f.Body()) < 2 {
		return 0, fmt.Errorf("frame % X; want CONNACK", f)
	}
	return f.Body()[1], nil
}

// TestE2EAuthFlood: 150 connections loop on a wrong password for alice
// from 127.0.0.1 (half v3, half v5). Users log in for the first time from
// 127.0.0.2: bob before the flood (the baseline), carol while it starts,
// dave once it is refused. All logins succeed; the flood is answered v5 0x9F / v3 0x05. The latencies are
// logged (the goal is < 1 s; this test does not fail on time, see README
// "Password floods").
func TestE2EAuthFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bcrypt at cost 10 under a flood")
	}
	var users []auth.User
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		hash, err := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.DefaultCost)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, auth.User{Username: u, PasswordHash: string(hash)})
	}
	srv, addr := startServer(t, func(c *mqttfront.Config) {
		c.Auth.AllowAnonymous = false
		c.Auth.Users = users
	}, nil)

	other := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	login := func(user, when string) {
		t.Helper()
		start := time.Now()
		code, err := connectOnce(context.Background(), addr, other, 5, user, user+"-pw")
		took := time.Since(start)
		t.Logf("first login of %s from 127.0.0.2 %s: %v (goal < 1s)", user, when, took)
		if err != nil || code != 0 {
			t.Fatalf("%s's login from 127.0.0.2: CONNACK 0x%02X, %v; want success", user, code, err)
		}
	}
	login("bob", "without a flood")

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var v3codes, v5codes [256]atomic.Int64
	const flood = 150
	for i := range flood {
		level, codes := byte(4), &v3codes
		if i%2 == 0 {
			level, codes = 5, &v5codes
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if code, err := connectOnce(ctx, addr, nil, level, "alice", "guess"); err == nil {
					codes[code].Add(1)
				}
			}
		}()
	}
	waitFor(t, e2eTimeout, "the flood to hold 100 connections", func() bool { return srv.Stats().ConnectionsCurrent >= 100 })
	login("carol", "as the flood of 150 connections from 127.0.0.1 starts")
	waitFor(t, 30*time.Second, "the flood to be answered v5 0x9F and v3 0x05", func() bool {
		return v5codes[0x9F].Load() > 0 && v3codes[0x05].Load() > 0
	})
	login("dave", "while the flood is refused")
	cancel()
	wg.Wait()
	st := srv.Stats()
	t.Logf("flood answers: v5 0x86=%d 0x9F=%d, v3 0x04=%d 0x05=%d; disconnects %v; auth %+v",
		v5codes[0x86].Load(), v5codes[0x9F].Load(), v3codes[0x04].Load(), v3codes[0x05].Load(), st.Disconnects, st.Auth)
	if st.Disconnects["auth_backoff"] == 0 {
		t.Errorf("disconnects[auth_backoff] = 0; want the refused flood counted")
	}
}
