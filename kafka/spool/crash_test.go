package spool

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
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
		t.Skip("child of TestCrashKill9")
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
