package spool

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestCrashKill9 runs a child process that appends with fsync=always and
// prints each seq once its done callback fires, kills it with SIGKILL mid-load
// and reopens the spool: every seq the child reported as durable must be
// replayed with its data.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	cfg := testConfig(t)
	cfg.SegmentBytes = 64 << 10 // many segment rolls in a few thousand records
	cfg.QuotaBytes = 1 << 30
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SPOOL_CRASH_DIR="+cfg.Dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 5000 {
		seq, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			continue // test framework output
		}
		acked[seq] = true
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // drain the pipe so Wait returns
	}
	cmd.Wait()
	if len(acked) < 5000 {
		t.Fatalf("child reported %d durable records before it ended; want 5000", len(acked))
	}
	seqs, st := openStats(t, cfg) // checks each record's data against its seq
	got := map[uint64]bool{}
	for _, seq := range seqs {
		got[seq] = true
	}
	for seq := range acked {
		if !got[seq] {
			t.Fatalf("seq %d was reported durable but is not in the spool after kill -9 (recovered %d, stats %+v)", seq, len(seqs), st)
		}
	}
	t.Logf("acked %d, recovered %d, truncated %d bytes, corrupt segments %d", len(acked), st.Recovered, st.TruncatedBytes, st.CorruptSegments)
}

// TestCrashChild is the child of TestCrashKill9; it appends until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("SPOOL_CRASH_DIR")
	if dir == "" {
		return // only runs as TestCrashKill9's child process
	}
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.SegmentBytes = 64 << 10
	cfg.QuotaBytes = 1 << 30
	s, err := Open(cfg, zap.NewNop())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go s.Run(context.Background())
	w := bufio.NewWriter(os.Stdout)
	var wmu sync.Mutex
	var amu sync.Mutex // index and Append together: record i gets seq i+1
	next := 0
	for g := 0; g < 8; g++ {
		go func() {
			for {
				amu.Lock()
				i := next
				next++
				done := make(chan struct{})
				err := s.Append(payload(i, 100), func(seq uint64, err error) {
					if err == nil {
						wmu.Lock()
						fmt.Fprintln(w, seq)
						w.Flush()
						wmu.Unlock()
					}
					close(done)
				})
				amu.Unlock()
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				<-done
			}
		}()
	}
	time.Sleep(time.Hour) // killed by the parent
}

// TestCrashKill9Watermark runs a child that appends and drains at once: it
// prints "D seq" when a record is durable, "A seq" just before it acks one
// and "W w" after each ack watermark write, and is killed with SIGKILL.
// After the restart every durable record never acked must be replayed, and
// no record the last reported watermark covers may be.
func TestCrashKill9Watermark(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	cfg := testConfig(t)
	cfg.SegmentBytes = 64 << 10
	cfg.QuotaBytes = 1 << 30
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDrainChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SPOOL_CRASH_DRAIN_DIR="+cfg.Dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	durable, acked := map[uint64]bool{}, map[uint64]bool{}
	var wm ackState // the last watermark the child wrote
	writes := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() && (len(acked) < 20000 || writes < 3) {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue // test framework output
		}
		switch f[0] {
		case "D":
			durable[n] = true
		case "A":
			acked[n] = true
		case "W":
			wm = ackState{w: n}
			for _, r := range f[2:] {
				var from, to uint64
				if _, err := fmt.Sscanf(r, "%d-%d", &from, &to); err != nil {
					t.Fatalf("bad range %q", r)
				}
				wm.ranges = append(wm.ranges, ackRange{from, to})
			}
			writes++
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // drain the pipe so Wait returns
	}
	cmd.Wait()
	if len(acked) < 20000 || writes < 3 {
		t.Fatalf("child acked %d records and wrote %d watermarks before it ended", len(acked), writes)
	}
	seqs, st := openStats(t, cfg)
	got := map[uint64]bool{}
	dups := 0
	for _, seq := range seqs {
		got[seq] = true
		if wm.covers(seq) {
			t.Fatalf("seq %d replayed, but the watermark written before the kill covers it (W %d, %d ranges)", seq, wm.w, len(wm.ranges))
		}
		if acked[seq] {
			dups++
		}
	}
	for seq := range durable {
		if !acked[seq] && !got[seq] {
			t.Fatalf("seq %d was durable and never acked, but not replayed after kill -9 (stats %+v)", seq, st)
		}
	}
	t.Logf("durable %d, acked %d, %d watermark writes (last W %d, %d ranges); replayed %d: %d never acked + %d acked (duplicates); stats %+v",
		len(durable), len(acked), writes, wm.w, len(wm.ranges), len(seqs), len(seqs)-dups, dups, st)
}

// TestCrashDrainChild is the child of TestCrashKill9Watermark: 4 appenders
// and a drainer that acks each record a little out of order, until killed.
func TestCrashDrainChild(t *testing.T) {
	dir := os.Getenv("SPOOL_CRASH_DRAIN_DIR")
	if dir == "" {
		return // only runs as TestCrashKill9Watermark's child process
	}
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.SegmentBytes = 64 << 10
	cfg.QuotaBytes = 1 << 30
	s, err := Open(cfg, zap.NewNop())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	var wmu sync.Mutex
	say := func(kind string, n uint64, extra ...any) {
		wmu.Lock()
		fmt.Fprint(w, kind, " ", n)
		for _, x := range extra {
			fmt.Fprint(w, " ", x)
		}
		fmt.Fprintln(w)
		w.Flush()
		wmu.Unlock()
	}
	s.wmEvery = 20 * time.Millisecond
	s.wmHook = func(st ackState) {
		var rs []any
		for _, r := range st.ranges {
			rs = append(rs, fmt.Sprintf("%d-%d", r.from, r.to))
		}
		say("W", st.w, rs...)
	}
	go s.Run(context.Background())
	var amu sync.Mutex // index and Append together: record i gets seq i+1
	next := 0
	for g := 0; g < 4; g++ {
		go func() {
			for {
				amu.Lock()
				i := next
				next++
				done := make(chan struct{})
				err := s.Append(payload(i, 100), func(seq uint64, err error) {
					if err == nil {
						say("D", seq)
					}
					close(done)
				})
				amu.Unlock()
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				<-done
			}
		}()
	}
	// The drainer acks in batches of 16, each batch in reverse order, and
	// leaves every 1000th record unacked for good.
	var after uint64
	for {
		batch := make([]uint64, 0, 16)
		for len(batch) < 16 {
			seq, _, err := s.Next(context.Background(), after)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			after = seq
			if seq%1000 != 0 {
				batch = append(batch, seq)
			}
		}
		for i := len(batch) - 1; i >= 0; i-- {
			say("A", batch[i])
			s.Ack(batch[i])
		}
	}
}
