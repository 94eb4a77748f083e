package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestKillDuringWrites re-runs this test binary as a child that writes with
// fsync on from several goroutines and reports each acknowledged write on
// fd 3. The parent SIGKILLs it mid-stream, reopens the file and checks that
// every acknowledged put is there, every acknowledged delete is gone, the
// file opens cleanly (bbolt rebuilds the unsynced freelist) and the counters
// match the contents. A kill keeps the page cache, so this proves crash
// consistency of the process, not of the disk.
func TestKillDuringWrites(t *testing.T) {
	if path := os.Getenv("STORE_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	r, w, err := os.Pipe()
	mustOK(t, "pipe", err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringWrites$")
	cmd.Env = append(os.Environ(), "STORE_CRASH_CHILD="+path)
	cmd.ExtraFiles = []*os.File{w}
	mustOK(t, "start child", cmd.Start())
	_ = w.Close()

	type key struct {
		client string
		seq    uint64
	}
	put := map[key]bool{}
	deleted := map[key]bool{}
	sc := bufio.NewScanner(r)
	killed := false
	deadline := time.Now().Add(20 * time.Second)
	for sc.Scan() {
		var op, client string
		var seq uint64
		if _, err := fmt.Sscan(sc.Text(), &op, &client, &seq); err != nil {
			t.Fatalf("bad ack line %q: %v", sc.Text(), err)
		}
		k := key{client, seq}
		if op == "put" {
			put[k] = true
		} else {
			deleted[k] = true
		}
		if !killed && (len(put) >= 1500 || time.Now().After(deadline)) {
			mustOK(t, "kill child", cmd.Process.Kill())
			killed = true
		}
	}
	_ = cmd.Wait()
	_ = r.Close()
	if !killed {
		t.Fatalf("child exited after %d acks before it was killed", len(put))
	}

	s, err := Open(path, nil)
	mustOK(t, "reopen after kill", err)
	defer s.Close()
	var total int64
	for c := range 8 {
		client := fmt.Sprintf("c%d", c)
		have := map[uint64]bool{}
		for _, sm := range allMessages(t, s, client) {
			have[sm.Seq] = true
			total++
		}
		for k := range put {
			// The child deletes seq right after put seq+5 is acknowledged, so
			// a delete may have committed without its ack line being written.
			deleteIssued := deleted[k] || put[key{client, k.seq + 5}]
			if k.client == client && !deleteIssued && !have[k.seq] {
				t.Errorf("acknowledged put %s/%d missing after kill", client, k.seq)
			}
		}
		for k := range deleted {
			if k.client == client && have[k.seq] {
				t.Errorf("acknowledged delete %s/%d present after kill", client, k.seq)
			}
		}
	}
	if st := s.Stats(); st.Messages != total {
		t.Errorf("Stats().Messages = %d after reopen; iteration found %d", st.Messages, total)
	}
	t.Logf("killed after %d acknowledged puts, %d deletes; %d messages survive", len(put), len(deleted), total)
}

// crashChild writes until killed (or 30s), acknowledging on fd 3.
func crashChild(path string) {
	s, err := Open(path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	acks := os.NewFile(3, "acks")
	var mu sync.Mutex
	ack := func(op, client string, seq uint64) {
		mu.Lock()
		fmt.Fprintf(acks, "%s %s %d\n", op, client, seq)
		mu.Unlock()
	}
	stop := time.Now().Add(30 * time.Second)
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			client := fmt.Sprintf("c%d", c)
			m := &Message{Topic: "crash/" + client, Payload: make([]byte, 200), QoS: 1}
			for seq := uint64(1); time.Now().Before(stop); seq++ {
				if err := s.PutMessage(client, seq, m); err != nil {
					return
				}
				ack("put", client, seq)
				if seq > 5 {
					if err := s.DeleteMessage(client, seq-5); err != nil {
						return
					}
					ack("del", client, seq-5)
				}
			}
		})
	}
	wg.Wait()
	os.Exit(0) // not reached when killed
}
