package auth

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// testBackoff returns a back-off on a clock the test moves.
func testBackoff(t *testing.T, c BackoffConfig) (*Backoff, *time.Time) {
	t.Helper()
	b, err := NewBackoff(c)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return now }
	return b, &now
}

func tcp(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }

func TestBackoffBlocksAfterMaxFailures(t *testing.T) {
	b, now := testBackoff(t, BackoffConfig{MaxFailures: 3, Window: time.Minute, Block: 30 * time.Second, MaxAddresses: 10})
	a, other := tcp("192.0.2.1"), tcp("192.0.2.2")
	for i := range 2 {
		if b.Fail(a) {
			t.Fatalf("failure %d blocked; want a block at the 3rd", i+1)
		}
	}
	if err := b.Check(a); err != nil {
		t.Fatalf("Check after 2 failures = %v; want nil", err)
	}
	if !b.Fail(a) {
		t.Fatal("3rd failure did not block")
	}
	var be *BackoffError
	if err := b.Check(a); !errors.As(err, &be) || !errors.Is(err, ErrBackoff) || !be.First {
		t.Fatalf("Check = %v; want the first *BackoffError wrapping ErrBackoff", err)
	}
	if want := now.Add(30 * time.Second); !be.Until.Equal(want) || be.Addr != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("BackoffError = %+v; want addr 192.0.2.1 until %v", be, want)
	}
	if err := b.Check(a); !errors.As(err, &be) || be.First {
		t.Fatalf("second Check = %v; want a *BackoffError with First = false (log once per block)", err)
	}
	if err := b.Check(other); err != nil {
		t.Fatalf("Check(other address) = %v; want nil", err)
	}
	// A check that was running when the block began does not extend it.
	b.Fail(a)
	*now = now.Add(30 * time.Second)
	if err := b.Check(a); err != nil {
		t.Fatalf("Check after the block = %v; want nil", err)
	}
	// The count starts afresh after a block.
	if b.Fail(a) || b.Fail(a) {
		t.Fatal("blocked again before max_failures new failures")
	}
	if !b.Fail(a) {
		t.Fatal("not blocked again after max_failures new failures")
	}
	if err := b.Check(a); !errors.As(err, &be) || !be.First {
		t.Fatalf("Check in the second block = %v; want First = true again", err)
	}
	if st := b.Stats(); st.Blocks != 2 || st.Refused != 3 || st.Addresses != 1 {
		t.Errorf("Stats = %+v; want 2 blocks, 3 refused, 1 address", st)
	}
}

func TestBackoffWindow(t *testing.T) {
	b, now := testBackoff(t, BackoffConfig{MaxFailures: 3, Window: time.Minute, Block: time.Minute, MaxAddresses: 10})
	a := tcp("192.0.2.1")
	if b.Suspect(a) {
		t.Error("an address without failures is suspect")
	}
	b.Fail(a)
	b.Fail(a)
	if !b.Suspect(a) {
		t.Error("an address with failures in its window is not suspect")
	}
	*now = now.Add(time.Minute) // the window of the first failure is over
	if b.Suspect(a) {
		t.Error("an address whose window ended is still suspect")
	}
	if b.Fail(a) || b.Fail(a) {
		t.Fatal("failures of an ended window counted")
	}
	if !b.Fail(a) {
		t.Fatal("3 failures within a window did not block")
	}
	if !b.Suspect(a) {
		t.Error("a blocked address is not suspect")
	}
}

func TestBackoffKeys(t *testing.T) {
	b, _ := testBackoff(t, BackoffConfig{MaxFailures: 1, Window: time.Minute, Block: time.Minute, MaxAddresses: 10})
	b.Fail(tcp("2001:db8:1:2:aaaa::1"))
	if err := b.Check(tcp("2001:db8:1:2:bbbb::9")); !errors.Is(err, ErrBackoff) {
		t.Errorf("Check(same /64) = %v; want blocked (IPv6 counts by /64)", err)
	}
	if err := b.Check(tcp("2001:db8:1:3::1")); err != nil {
		t.Errorf("Check(other /64) = %v; want nil", err)
	}
	b.Fail(tcp("::ffff:198.51.100.7"))
	if err := b.Check(tcp("198.51.100.7")); !errors.Is(err, ErrBackoff) {
		t.Errorf("Check(IPv4 after IPv4-mapped failure) = %v; want blocked", err)
	}
	p1, _ := net.Pipe()
	defer p1.Close()
	if b.Fail(p1.RemoteAddr()) || b.Check(p1.RemoteAddr()) != nil || b.Check(nil) != nil {
		t.Error("a non-IP address is tracked; want ignored")
	}
}

func TestBackoffBounded(t *testing.T) {
	b, _ := testBackoff(t, BackoffConfig{MaxFailures: 2, Window: time.Minute, Block: time.Minute, MaxAddresses: 3})
	for i := range 100 {
		b.Fail(tcp(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()))
	}
	if n := b.Stats().Addresses; n != 3 {
		t.Fatalf("%d addresses remembered; want max_addresses = 3", n)
	}
}

func TestBackoffOff(t *testing.T) {
	b, err := NewBackoff(BackoffConfig{})
	if err != nil || b != nil {
		t.Fatalf("NewBackoff(max_failures 0) = %v, %v; want nil, nil", b, err)
	}
	if b.Fail(tcp("192.0.2.1")) || b.Check(tcp("192.0.2.1")) != nil || b.Stats() != (BackoffStats{}) {
		t.Error("a nil Backoff blocks; want it to allow everything")
	}
}

// fakeGate refuses the admit calls listed in refuse (1-based) and counts.
type fakeGate struct {
	refuse        map[int]bool
	admits, fails int
}

var errNo = errors.New("no")

func (g *fakeGate) Admit() error {
	g.admits++
	if g.refuse[g.admits] {
		return errNo
	}
	return nil
}
func (g *fakeGate) Suspect() bool { return false }
func (g *fakeGate) Failed()       { g.fails++ }

// TestGate: a refusing Gate ends Authenticate before the cache (a blocked
// address must not test passwords for free) and, for a caller that was
// waiting for a slot, before bcrypt; it learns of every failure.
func TestGate(t *testing.T) {
	s := newStatic(t, Config{Users: []User{{"alice", hashOf(t, "pw")}}})
	ctx := context.Background()
	right := Credentials{Username: "alice", UsernameSet: true, Password: []byte("pw"), PasswordSet: true}
	g := &fakeGate{}
	c := right
	c.Gate = g
	if _, err := s.Authenticate(ctx, c); err != nil || g.admits != 2 || g.fails != 0 {
		t.Fatalf("right password: %v, %d admits, %d failures; want success, 2 admits, no failure", err, g.admits, g.fails)
	}
	g = &fakeGate{refuse: map[int]bool{1: true}}
	c.Gate = g
	if _, err := s.Authenticate(ctx, c); !errors.Is(err, errNo) {
		t.Fatalf("cached password, Gate refusing: Authenticate = %v; want the Gate's error", err)
	}
	g = &fakeGate{refuse: map[int]bool{2: true}} // the back-off began while this caller waited
	c.Gate, c.Password = g, []byte("wrong")
	if _, err := s.Authenticate(ctx, c); !errors.Is(err, errNo) || g.fails != 0 {
		t.Fatalf("Authenticate = %v, %d failures; want the Gate's error from the check holding a slot, no bcrypt", err, g.fails)
	}
	for _, bad := range []Credentials{
		{Username: "alice", UsernameSet: true, Password: []byte("wrong"), PasswordSet: true},
		{Username: "mallory", UsernameSet: true, Password: []byte("pw"), PasswordSet: true},
		{Username: "alice", UsernameSet: true},
	} {
		g = &fakeGate{}
		bad.Gate = g
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, ErrBadCredentials) || g.fails != 1 {
			t.Errorf("Authenticate(%s, %q) = %v, %d failures; want ErrBadCredentials and 1 failure", bad.Username, bad.Password, err, g.fails)
		}
	}
	// Anonymous clients need no password check.
	g = &fakeGate{refuse: map[int]bool{1: true}}
	if _, err := newStatic(t, Config{AllowAnonymous: true}).Authenticate(ctx, Credentials{Gate: g}); err != nil || g.admits != 0 {
		t.Errorf("anonymous with a refusing Gate: %v after %d admits; want allowed, not asked", err, g.admits)
	}
}

func TestBackoffGate(t *testing.T) {
	b, _ := testBackoff(t, BackoffConfig{MaxFailures: 2, Window: time.Minute, Block: time.Minute, MaxAddresses: 10})
	p1, _ := net.Pipe()
	defer p1.Close()
	if b.Gate(p1.RemoteAddr()) != nil {
		t.Error("Gate of a non-IP address is not nil")
	}
	var off *Backoff
	if off.Gate(tcp("192.0.2.1")) != nil {
		t.Error("Gate of a nil Backoff is not nil")
	}
	g := b.Gate(tcp("192.0.2.1"))
	g.Failed()
	if !g.Suspect() || g.Admit() != nil {
		t.Fatal("after one failure: want suspect, admitted")
	}
	g.Failed()
	if err := g.Admit(); !errors.Is(err, ErrBackoff) {
		t.Fatalf("Admit after max_failures = %v; want ErrBackoff", err)
	}
}

func TestBcryptConcurrency(t *testing.T) {
	if n := newStatic(t, Config{BcryptConcurrency: 3}).sem.size; n != 3 {
		t.Errorf("bcrypt_concurrency 3: %d slots", n)
	}
	s := newStatic(t, Config{Users: []User{{"alice", hashOf(t, "pw")}}})
	_ = s.sem.acquire(context.Background(), nil)
	if l := s.Load(); l.Running != 1 || l.Waiting != 0 {
		t.Errorf("Load = %+v; want 1 running", l)
	}
}
