package bridge

import (
	"net"
	"testing"
)

// TestReachable: a bound address with a specific host is advertised as it
// is; an unspecified one gets this machine's first non-loopback address.
func TestReachable(t *testing.T) {
	ip := firstIP()
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"10.1.2.3:1883", "10.1.2.3:1883"},
		{"[fd00::1]:8080", "[fd00::1]:8080"},
		{"bridge-0.bridge:8080", "bridge-0.bridge:8080"},
		{"", ""},
	} {
		if got := reachable(tc.in); got != tc.want {
			t.Errorf("reachable(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{":8080", "0.0.0.0:8080", "[::]:8080"} {
		want := in
		if ip != "" {
			want = net.JoinHostPort(ip, "8080")
		}
		if got := reachable(in); got != want {
			t.Errorf("reachable(%q) = %q; want %q (first non-loopback IP %q)", in, got, want, ip)
		}
	}
}
