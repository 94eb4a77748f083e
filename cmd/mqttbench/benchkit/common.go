package benchkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors counts failures by a short reason.
type Errors struct {
	mu sync.Mutex
	m  map[string]uint64
	n  atomic.Uint64
}

// Add counts one failure with reason.
func (e *Errors) Add(reason string) {
	e.n.Add(1)
	e.mu.Lock()
	if e.m == nil {
		e.m = make(map[string]uint64)
	}
	e.m[reason]++
	e.mu.Unlock()
}

// Total is the number of failures.
func (e *Errors) Total() uint64 { return e.n.Load() }

// Snapshot copies the counts.
func (e *Errors) Snapshot() map[string]uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]uint64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// reason turns an error into a short, bounded label.
func reason(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "connection refused"):
		return "connection_refused"
	case strings.Contains(s, "timeout"), strings.Contains(s, "timed out"):
		return "timeout"
	case strings.Contains(s, "connection lost"), strings.Contains(s, "reset by peer"), strings.Contains(s, "EOF"), strings.Contains(s, "broken pipe"):
		return "connection_lost"
	case strings.Contains(s, "not currently connected"), strings.Contains(s, "not connected"):
		return "not_connected"
	case strings.Contains(s, "cannot assign requested address"), strings.Contains(s, "address already in use"):
		return "no_source_port"
	case strings.Contains(s, "too many open files"):
		return "too_many_open_files"
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// ParseSourceIPs parses "127.0.0.1-127.0.0.8" or "127.0.0.1,127.0.0.2" (or
// a mix) into addresses. An empty string means none (the kernel chooses).
func ParseSourceIPs(s string) ([]net.IP, error) {
	var out []net.IP
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a := net.ParseIP(lo).To4()
		if a == nil {
			return nil, fmt.Errorf("source ip %q: not an IPv4 address", lo)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b := net.ParseIP(hi).To4()
		if b == nil || a[0] != b[0] || a[1] != b[1] || a[2] != b[2] || a[3] > b[3] {
			return nil, fmt.Errorf("source ip range %q: want a.b.c.x-a.b.c.y with x <= y", part)
		}
		for i := int(a[3]); i <= int(b[3]); i++ {
			out = append(out, net.IPv4(a[0], a[1], a[2], byte(i)).To4())
		}
	}
	return out, nil
}

// dialerFor returns the dialer for connection i: round robin over ips.
func dialerFor(ips []net.IP, i int, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if len(ips) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: ips[i%len(ips)]}
	}
	return d
}

// progress prints line() to w every second until ctx ends.
func progress(ctx context.Context, w io.Writer, line func(elapsed time.Duration) string) func() {
	if w == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fmt.Fprintln(w, line(time.Since(start).Truncate(time.Second)))
			}
		}
	}()
	return func() { cancel(); <-done }
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string]uint64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// intervalHist is a histogram that is swapped for a fresh one on each read,
// for per-second figures on the progress line.
type intervalHist struct{ p atomic.Pointer[Hist] }

func newIntervalHist() *intervalHist {
	h := &intervalHist{}
	h.p.Store(new(Hist))
	return h
}

func (h *intervalHist) Record(v int64) { h.p.Load().Record(v) }
func (h *intervalHist) swap() *Hist    { return h.p.Swap(new(Hist)) }
