package auth

import (
	"container/list"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// BackoffConfig is the "auth.failure_backoff" section: after MaxFailures
// failed password checks from one address within Window, CONNECTs with a
// password from that address are refused for Block without running bcrypt.
type BackoffConfig struct {
	// MaxFailures is the number of failed password checks (wrong password
	// or unknown user) from one address within Window that blocks it.
	// 0 turns the back-off off. Default 5 (fail2ban's maxretry). (No Mosquitto equivalent; EMQX
	// flapping_detect.max_count is the closest, for reconnects.)
	MaxFailures int `koanf:"max_failures"`
	// Window is the period in which MaxFailures failures block an
	// address; it starts with the address's first failure. Default 1m.
	// (EMQX flapping_detect.window_time.)
	Window time.Duration `koanf:"window"`
	// Block is how long a blocked address is refused. Default 1m. (EMQX
	// flapping_detect.ban_time.)
	Block time.Duration `koanf:"block"`
	// MaxAddresses bounds the addresses remembered (least recently failed
	// evicted first); an entry is about 150 bytes. Default 10000.
	MaxAddresses int `koanf:"max_addresses"`
}

// DefaultBackoffConfig returns the defaults: 5 failures in a minute block
// an address for a minute, 10000 addresses remembered.
func DefaultBackoffConfig() BackoffConfig {
	return BackoffConfig{MaxFailures: 5, Window: time.Minute, Block: time.Minute, MaxAddresses: 10000}
}

// ValidateAt checks c mounted at prefix (e.g. "mqtt.auth.failure_backoff").
func (c BackoffConfig) ValidateAt(prefix string) error {
	switch {
	case c.MaxFailures < 0:
		return fmt.Errorf("%s.max_failures: must be >= 0 (0 = off), got %d", prefix, c.MaxFailures)
	case c.MaxFailures == 0:
		return nil
	case c.Window <= 0:
		return fmt.Errorf("%s.window: must be > 0, got %s", prefix, c.Window)
	case c.Block <= 0:
		return fmt.Errorf("%s.block: must be > 0, got %s", prefix, c.Block)
	case c.MaxAddresses < 1:
		return fmt.Errorf("%s.max_addresses: must be >= 1, got %d", prefix, c.MaxAddresses)
	}
	return nil
}

// ErrBackoff means the client's address failed too many password checks
// lately; the CONNECT is refused without one. The broker answers CONNACK
// v5 0x9F (Connection rate exceeded) / v3 0x05.
var ErrBackoff = errors.New("too many failed logins from this address")

// BackoffError is the ErrBackoff of one refusal.
type BackoffError struct {
	Addr  netip.Addr // the address, IPv6 masked to its /64
	Until time.Time  // the end of the block
	// First is true for the first refusal of this block, so the caller can
	// log once per address and block.
	First bool
}

func (e *BackoffError) Error() string {
	return fmt.Sprintf("%v: %s blocked until %s", ErrBackoff, e.Addr, e.Until.Format(time.RFC3339))
}

func (e *BackoffError) Unwrap() error { return ErrBackoff }

// BackoffStats counts the back-off's work.
type BackoffStats struct {
	Blocks    uint64 // times an address was blocked
	Refused   uint64 // attempts refused while blocked
	Addresses int    // addresses remembered now
}

// Backoff remembers failed password checks per source address. IPv4
// addresses count one by one; IPv6 addresses by their /64, the block a
// single host or site usually holds. It is safe for concurrent use, starts
// no goroutine and holds at most MaxAddresses entries.
type Backoff struct {
	cfg BackoffConfig
	now func() time.Time

	blocks  atomic.Uint64
	refused atomic.Uint64

	mu      sync.Mutex
	entries map[netip.Addr]*list.Element // of *backoffEntry
	lru     list.List                    // front = most recent failure
}

type backoffEntry struct {
	addr         netip.Addr
	start        time.Time // first failure of the current window
	failures     int
	blockedUntil time.Time
	refusals     int // in the current block
}

// NewBackoff returns a back-off for c; a nil *Backoff (MaxFailures 0)
// allows everything.
func NewBackoff(c BackoffConfig) (*Backoff, error) {
	if err := c.ValidateAt("auth.failure_backoff"); err != nil {
		return nil, err
	}
	if c.MaxFailures == 0 {
		return nil, nil
	}
	return &Backoff{cfg: c, now: time.Now, entries: map[netip.Addr]*list.Element{}}, nil
}

// backoffKey is the table key of a remote address; ok is false for an
// address that is not IP (a pipe in tests).
func backoffKey(a net.Addr) (netip.Addr, bool) {
	var ip netip.Addr
	switch t := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(t.IP)
	case nil:
		return netip.Addr{}, false
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}, false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}

// Gate returns the Gate of a client at addr for Credentials.Gate; nil when
// b is nil or addr is not an IP address.
func (b *Backoff) Gate(addr net.Addr) Gate {
	if b == nil {
		return nil
	}
	key, ok := backoffKey(addr)
	if !ok {
		return nil
	}
	return addrGate{b: b, key: key}
}

// addrGate is Backoff's Gate for one address.
type addrGate struct {
	b   *Backoff
	key netip.Addr
}

func (g addrGate) Admit() error  { return g.b.check(g.key) }
func (g addrGate) Suspect() bool { return g.b.suspect(g.key) }
func (g addrGate) Failed()       { g.b.fail(g.key) }

// Check returns a *BackoffError when addr is blocked, else nil.
func (b *Backoff) Check(addr net.Addr) error {
	if key, ok := backoffKey(addr); ok && b != nil {
		return b.check(key)
	}
	return nil
}

func (b *Backoff) check(key netip.Addr) error {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	el, found := b.entries[key]
	if !found {
		return nil
	}
	e := el.Value.(*backoffEntry)
	if !now.Before(e.blockedUntil) {
		return nil
	}
	e.refusals++
	b.refused.Add(1)
	return &BackoffError{Addr: key, Until: e.blockedUntil, First: e.refusals == 1}
}

// Suspect reports whether addr failed a password check within its
// current window or is blocked.
func (b *Backoff) Suspect(addr net.Addr) bool {
	if key, ok := backoffKey(addr); ok && b != nil {
		return b.suspect(key)
	}
	return false
}

func (b *Backoff) suspect(key netip.Addr) bool {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	el, found := b.entries[key]
	if !found {
		return false
	}
	e := el.Value.(*backoffEntry)
	return now.Before(e.blockedUntil) || (e.failures > 0 && now.Sub(e.start) < b.cfg.Window)
}

// Fail records a failed password check from addr and reports whether it
// blocked the address.
func (b *Backoff) Fail(addr net.Addr) bool {
	if key, ok := backoffKey(addr); ok && b != nil {
		return b.fail(key)
	}
	return false
}

func (b *Backoff) fail(key netip.Addr) bool {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	var e *backoffEntry
	if el, found := b.entries[key]; found {
		b.lru.MoveToFront(el)
		e = el.Value.(*backoffEntry)
	} else {
		for b.lru.Len() >= b.cfg.MaxAddresses {
			old := b.lru.Back()
			delete(b.entries, old.Value.(*backoffEntry).addr)
			b.lru.Remove(old)
		}
		e = &backoffEntry{addr: key}
		b.entries[key] = b.lru.PushFront(e)
	}
	if now.Before(e.blockedUntil) {
		// A check that was already running when the block began.
		return false
	}
	if e.failures == 0 || now.Sub(e.start) >= b.cfg.Window {
		e.start, e.failures = now, 0
	}
	e.failures++
	if e.failures < b.cfg.MaxFailures {
		return false
	}
	e.failures, e.refusals = 0, 0
	e.blockedUntil = now.Add(b.cfg.Block)
	b.blocks.Add(1)
	return true
}

// Stats returns the counters.
func (b *Backoff) Stats() BackoffStats {
	if b == nil {
		return BackoffStats{}
	}
	b.mu.Lock()
	n := b.lru.Len()
	b.mu.Unlock()
	return BackoffStats{Blocks: b.blocks.Load(), Refused: b.refused.Load(), Addresses: n}
}
