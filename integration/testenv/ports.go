package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
)

// Private brokers listen on ports below the kernel's ephemeral range
// (32768-60999 here). A port from that range, freed while its broker is
// stopped, can be taken by an outgoing connection's source port, or by a
// client that keeps redialling the port and connects to itself (TCP
// simultaneous open); the restarted broker then fails to bind.
const (
	portLow  = 20000
	portHigh = 32000
)

// FreePortPair returns a port p, below the ephemeral range, such that p and
// p+1 (the controller port kafka.sh uses) are both free right now.
func FreePortPair(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := portLow + rand.IntN(portHigh-portLow-1)
		l1, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		_ = l1.Close()
		if err != nil {
			continue
		}
		_ = l2.Close()
		return p
	}
	t.Fatal("testenv: no two consecutive free ports below the ephemeral range")
	return 0
}

// FreePort returns a free port below the ephemeral range, for listeners
// that are stopped and started again while clients keep redialling them.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		p := portLow + rand.IntN(portHigh-portLow)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p
	}
	t.Fatal("testenv: no free port below the ephemeral range")
	return 0
}
