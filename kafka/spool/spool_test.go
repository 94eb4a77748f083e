package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func payload(i, n int) []byte {
	b := bytes.Repeat([]byte{'x'}, n)
	copy(b, fmt.Sprintf("rec-%06d", i))
	return b
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAppendNextAckOrder(t *testing.T) {
	s, _ := startSpool(t, testConfig(t))
	var mu sync.Mutex
	var seqs []uint64
	var wg sync.WaitGroup
	const n = 50
	wg.Add(n)
	for i := 0; i < n; i++ {
		err := s.Append(payload(i, 32), func(seq uint64, err error) {
			if err != nil {
				t.Errorf("done(%d) err = %v", seq, err)
			}
			mu.Lock()
			seqs = append(seqs, seq)
			mu.Unlock()
			wg.Done()
		})
		if err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
	}
	wg.Wait()
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("done #%d had seq %d; want %d (callbacks in seq order)", i, seq, i+1)
		}
	}
	if s.Empty() {
		t.Fatal("Empty() = true with 50 unacked records")
	}
	var after uint64
	for i := 0; i < n; i++ {
		seq, data := nextT(t, s, after)
		if seq != uint64(i+1) || !bytes.Equal(data, payload(i, 32)) {
			t.Fatalf("Next(%d) = %d, %q; want %d, %q", after, seq, data, i+1, payload(i, 32))
		}
		after = seq
	}
	// Next(0) returns the first unacked record; acks may come in any order.
	s.Ack(1)
	s.Ack(3)
	if seq, _ := nextT(t, s, 0); seq != 2 {
		t.Fatalf("Next(0) after acking 1 = %d; want 2", seq)
	}
	if seq, _ := nextT(t, s, 2); seq != 4 {
		t.Fatalf("Next(2) with 3 acked = %d; want 4", seq)
	}
	for seq := uint64(n); seq >= 1; seq-- {
		s.Ack(seq)
	}
	s.Ack(1) // repeated: ignored
	s.Ack(999)
	if !s.Empty() {
		t.Fatal("Empty() = false after acking everything")
	}
	st := s.Stats()
	if st.Records != 0 || st.Appended != n || st.Acked != n {
		t.Fatalf("Stats = %+v; want 0 records, %d appended, %d acked", st, n, n)
	}
}

func TestRolloverAndDeleteAfterOutOfOrderAcks(t *testing.T) {
	cfg := testConfig(t)
	s, _ := startSpool(t, cfg)
	const n = 200 // 116-byte records: 35 per 4 KiB segment, 6 segments
	for i := 0; i < n; i++ {
		if err := s.Append(payload(i, 100), nil); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
	}
	appendSync(t, s, payload(n, 100))
	st := s.Stats()
	if st.Segments != 6 || len(segFiles(t, cfg.Dir)) != 6 {
		t.Fatalf("Segments = %d, files %d; want 6", st.Segments, len(segFiles(t, cfg.Dir)))
	}
	if st.Bytes != 6*cfg.SegmentBytes {
		t.Fatalf("Bytes = %d; want %d (whole preallocated segments)", st.Bytes, 6*cfg.SegmentBytes)
	}
	// Ack the second segment backwards: it goes; the first stays.
	for seq := uint64(70); seq >= 36; seq-- {
		s.Ack(seq)
	}
	waitFor(t, 5*time.Second, "second segment deleted", func() bool { return len(segFiles(t, cfg.Dir)) == 5 })
	if _, err := os.Stat(segPath(cfg.Dir, 1)); err != nil {
		t.Fatalf("first segment gone too early: %v", err)
	}
	if seq, _ := nextT(t, s, 35); seq != 71 {
		t.Fatalf("Next(35) = %d; want 71 (36-70 acked)", seq)
	}
	for seq := uint64(n + 1); seq >= 1; seq-- {
		s.Ack(seq)
	}
	// Only the active (last) segment stays. The committer removes the files
	// first and then frees their bytes in the accounting (the quota frees
	// only once the disk space has), so wait for both.
	waitFor(t, 5*time.Second, "acked segments deleted", func() bool {
		return len(segFiles(t, cfg.Dir)) == 1 && s.Stats().Bytes == cfg.SegmentBytes
	})
	if st := s.Stats(); st.Bytes != cfg.SegmentBytes || st.Segments != 1 || st.Records != 0 {
		t.Fatalf("Stats = %+v; want one segment of %d bytes, 0 records", st, cfg.SegmentBytes)
	}
}

func TestQuotaFullAndRecovery(t *testing.T) {
	cfg := testConfig(t)
	cfg.QuotaBytes = 3 * cfg.SegmentBytes
	s, _ := startSpool(t, cfg)
	var err error
	n := 0
	for ; n < 1000; n++ {
		if err = s.Append(payload(n, 100), nil); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Append #%d = %v; want ErrFull", n, err)
	}
	if n != 3*35 {
		t.Fatalf("accepted %d records before ErrFull; want %d (3 segments of 35)", n, 3*35)
	}
	if st := s.Stats(); st.Bytes != cfg.QuotaBytes {
		t.Fatalf("Bytes = %d; want the quota %d", st.Bytes, cfg.QuotaBytes)
	}
	// Acking part of a segment frees nothing.
	for seq := uint64(1); seq <= 34; seq++ {
		s.Ack(seq)
	}
	if err := s.Append(payload(0, 100), nil); !errors.Is(err, ErrFull) {
		t.Fatalf("Append with a partly acked segment = %v; want ErrFull", err)
	}
	s.Ack(35)
	waitFor(t, 5*time.Second, "space freed", func() bool { return s.Stats().Bytes == 2*cfg.SegmentBytes })
	if seq := appendSync(t, s, payload(0, 100)); seq != uint64(n+1) {
		t.Fatalf("Append after freeing = seq %d; want %d", seq, n+1)
	}
}

func TestOversizeRecordGetsOwnSegment(t *testing.T) {
	cfg := testConfig(t)
	s, _ := startSpool(t, cfg)
	appendSync(t, s, payload(0, 10))
	big := payload(1, 10000)
	seq := appendSync(t, s, big)
	if _, data := nextT(t, s, seq-1); !bytes.Equal(data, big) {
		t.Fatal("oversize record read back differently")
	}
	if st := s.Stats(); st.Bytes != cfg.SegmentBytes+headerLen+recHeaderLen+10000 {
		t.Fatalf("Bytes = %d; want %d", st.Bytes, cfg.SegmentBytes+headerLen+recHeaderLen+10000)
	}
}

func TestRestartReplaysUnackedInOrder(t *testing.T) {
	cfg := testConfig(t)
	s, stop := startSpool(t, cfg)
	const n = 100
	for i := 0; i < n; i++ {
		if err := s.Append(payload(i, 100), nil); err != nil {
			t.Fatal(err)
		}
	}
	appendSync(t, s, payload(n, 100))
	for seq := uint64(1); seq <= 35; seq++ { // the whole first segment
		s.Ack(seq)
	}
	s.Ack(50) // out of order: clean shutdown records it above the watermark
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := s.Append([]byte("late"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Run = %v; want ErrClosed", err)
	}
	if _, _, err := s.Next(context.Background(), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Run = %v; want ErrClosed", err)
	}

	s2, _ := startSpool(t, cfg)
	st := s2.Stats()
	if st.Recovered != n-35 || st.Records != n-35 || st.RecoveredAcked != 1 || st.AckWatermark != 35 || st.TruncatedBytes != 0 || st.CorruptSegments != 0 {
		t.Fatalf("Stats after restart = %+v; want %d recovered, seq 50 skipped, W 35, no damage", st, n-35)
	}
	var after uint64
	for i := 35; i <= n; i++ {
		if i+1 == 50 {
			continue
		}
		seq, data := nextT(t, s2, after)
		if seq != uint64(i+1) || !bytes.Equal(data, payload(i, 100)) {
			t.Fatalf("replay: Next(%d) = %d, %q; want %d", after, seq, data[:10], i+1)
		}
		after = seq
	}
	if seq := appendSync(t, s2, []byte("new")); seq != n+2 {
		t.Fatalf("first Append after restart = seq %d; want %d", seq, n+2)
	}
}

func TestRestartAfterAllAckedKeepsSeqAndReplaysNothing(t *testing.T) {
	cfg := testConfig(t)
	s, stop := startSpool(t, cfg)
	for i := 0; i < 5; i++ {
		appendSync(t, s, payload(i, 10))
	}
	for seq := uint64(1); seq <= 5; seq++ {
		s.Ack(seq)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	files := segFiles(t, cfg.Dir)
	if len(files) != 1 || filepath.Base(files[0]) != "00000000000000000006.seg" {
		t.Fatalf("files after clean shutdown = %v; want only the seed 00000000000000000006.seg", files)
	}
	s2, _ := startSpool(t, cfg)
	if st := s2.Stats(); st.Recovered != 0 || !s2.Empty() {
		t.Fatalf("Stats = %+v; want nothing to replay", st)
	}
	if seq := appendSync(t, s2, []byte("x")); seq != 6 {
		t.Fatalf("Append after restart = seq %d; want 6", seq)
	}
	if files := segFiles(t, cfg.Dir); len(files) != 1 {
		t.Fatalf("files = %v; want the seed reused as the new segment", files)
	}
}

func TestNextBlocksUntilAppendAndRespectsContext(t *testing.T) {
	s, _ := startSpool(t, testConfig(t))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := s.Next(ctx, 0)
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("Next on an empty spool returned %v; want it to block", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel = %v; want context.Canceled", err)
	}

	got := make(chan uint64, 1)
	go func() {
		seq, _, err := s.Next(context.Background(), 0)
		if err != nil {
			t.Errorf("Next: %v", err)
		}
		got <- seq
	}()
	if err := s.Append([]byte("wake"), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case seq := <-got:
		if seq != 1 {
			t.Fatalf("Next = %d; want 1", seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after Append")
	}
}

func TestNextEndsWhenRunEnds(t *testing.T) {
	s, stop := startSpool(t, testConfig(t))
	errc := make(chan error, 1)
	go func() {
		_, _, err := s.Next(context.Background(), 0)
		errc <- err
	}()
	stop()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next during shutdown = %v; want ErrClosed", err)
	}
}

func TestFsyncPolicies(t *testing.T) {
	for _, policy := range []string{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(policy, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Fsync = policy
			cfg.FsyncInterval = 5 * time.Millisecond
			s, stop := startSpool(t, cfg)
			var mu sync.Mutex
			hookCalls := 0
			s.FsyncHook(func(d time.Duration) {
				mu.Lock()
				hookCalls++
				mu.Unlock()
			})
			for i := 0; i < 100; i++ {
				appendSync(t, s, payload(i, 100))
			}
			st := s.Stats()
			switch policy {
			case FsyncAlways:
				// Each appendSync waited for its own fsync.
				if st.Fsyncs < 100 {
					t.Fatalf("Fsyncs = %d after 100 synchronous appends; want >= 100", st.Fsyncs)
				}
			case FsyncInterval:
				waitFor(t, 5*time.Second, "an interval fsync", func() bool { return s.Stats().Fsyncs > 0 })
			case FsyncNever:
				if st.Fsyncs != 0 {
					t.Fatalf("Fsyncs = %d with fsync=never; want 0 before shutdown", st.Fsyncs)
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			st = s.Stats()
			if st.Fsyncs == 0 {
				t.Fatal("no fsync at shutdown")
			}
			mu.Lock()
			defer mu.Unlock()
			if uint64(hookCalls) != st.Fsyncs {
				t.Fatalf("FsyncHook called %d times; want %d (one per fsync round)", hookCalls, st.Fsyncs)
			}
		})
	}
}

// TestConcurrentAppendDrain runs appenders and a drainer together (run it
// with -race): every record is delivered once, in seq order, with its data,
// and every segment but the active one is deleted.
func TestConcurrentAppendDrain(t *testing.T) {
	for _, policy := range []string{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(policy, func(t *testing.T) { testConcurrentAppendDrain(t, policy) })
	}
}

func testConcurrentAppendDrain(t *testing.T, policy string) {
	cfg := testConfig(t)
	cfg.QuotaBytes = 256 * cfg.SegmentBytes
	cfg.Fsync = policy
	cfg.FsyncInterval = time.Millisecond // overlaps syncs with writes and deletes
	s, stop := startSpool(t, cfg)
	const writers, per = 8, 300
	var mu sync.Mutex
	bySeq := map[uint64][]byte{}
	var lastDone uint64
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				data := payload(w*per+i, 50)
				err := s.Append(data, func(seq uint64, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil || seq <= lastDone {
						t.Errorf("done(%d, %v) after %d; want increasing seqs, nil error", seq, err, lastDone)
					}
					lastDone = seq
					bySeq[seq] = data
				})
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		}()
	}
	var after uint64
	for got := 0; got < writers*per; got++ {
		seq, data := nextT(t, s, after)
		if seq != after+1 {
			t.Fatalf("Next(%d) = %d; want %d", after, seq, after+1)
		}
		mu.Lock()
		want, ok := bySeq[seq]
		mu.Unlock()
		if ok && !bytes.Equal(data, want) {
			t.Fatalf("record %d = %q; want %q", seq, data, want)
		}
		s.Ack(seq)
		after = seq
	}
	wg.Wait()
	waitFor(t, 5*time.Second, "all done callbacks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bySeq) == writers*per
	})
	if !s.Empty() {
		t.Fatal("Empty() = false after draining everything")
	}
	waitFor(t, 5*time.Second, "drained segments deleted", func() bool { return len(segFiles(t, cfg.Dir)) == 1 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Everything was acked: shutdown leaves only the seed.
	if files := segFiles(t, cfg.Dir); len(files) != 1 || fileSize(t, files[0]) != headerLen {
		t.Fatalf("files after shutdown = %v; want one header-only seed", files)
	}
}

func TestOldestAge(t *testing.T) {
	s, _ := startSpool(t, testConfig(t))
	if age := s.Stats().OldestAge; age != 0 {
		t.Fatalf("OldestAge of an empty spool = %v; want 0", age)
	}
	appendSync(t, s, []byte("old"))
	waitFor(t, 5*time.Second, "time to pass", func() bool { return s.Stats().OldestAge >= 120*time.Millisecond })
	appendSync(t, s, []byte("new"))
	s.Ack(1)
	if age := s.Stats().OldestAge; age >= 100*time.Millisecond {
		t.Fatalf("OldestAge after acking the old record = %v; want the new record's age (< 100ms)", age)
	}
	s.Ack(2)
	if age := s.Stats().OldestAge; age != 0 {
		t.Fatalf("OldestAge with everything acked = %v; want 0", age)
	}
}

func TestRunTwice(t *testing.T) {
	s, err := Open(testConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	go func() { errc <- s.Run(ctx) }()
	go func() { errc <- s.Run(ctx) }()
	// Whichever call comes second fails at once; then end the first.
	first := <-errc
	cancel()
	second := <-errc
	if first == nil || second != nil {
		t.Fatalf("two Runs returned %v, then %v; want an error from the second at once, nil from the first", first, second)
	}
}

// TestWriteFailure closes the active segment under the committer: the
// batch's done callbacks get the error, later appends are refused and Run
// reports it.
func TestWriteFailure(t *testing.T) {
	s, stop := startSpool(t, testConfig(t))
	appendSync(t, s, []byte("ok"))
	s.mu.Lock()
	s.active.f.Close()
	s.mu.Unlock()
	errc := make(chan error, 1)
	if err := s.Append([]byte("lost"), func(_ uint64, err error) { errc <- err }); err != nil {
		t.Fatalf("Append = %v; want it queued", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("done after a failed write got nil; want the error")
	}
	if err := s.Append([]byte("more"), nil); err == nil || errors.Is(err, ErrFull) {
		t.Fatalf("Append after a failed write = %v; want a write-failure error", err)
	}
	if err := stop(); err == nil {
		t.Fatal("Run after a failed write = nil; want the error")
	}
}

// TestNextSkipsRecordDamagedAfterWrite flips a byte of a durable record on
// disk: Next logs it, counts it, skips it and returns the next record.
func TestNextSkipsRecordDamagedAfterWrite(t *testing.T) {
	cfg := testConfig(t)
	s, _ := startSpool(t, cfg)
	for i := 0; i < 3; i++ {
		appendSync(t, s, payload(i, 40))
	}
	f, err := os.OpenFile(segPath(cfg.Dir, 1), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(headerLen + recHeaderLen + 40 + recHeaderLen + 3) // data of record 2
	if _, err := f.WriteAt([]byte{0xff}, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if seq, _ := nextT(t, s, 1); seq != 3 {
		t.Fatalf("Next(1) = %d; want 3 (2 is damaged)", seq)
	}
	if st := s.Stats(); st.Damaged != 1 || st.Records != 2 {
		t.Fatalf("Stats = %+v; want 1 damaged, 2 unacked", st)
	}
}

// TestAppendWaitsWhilePendingIsFull: appends queue before Run starts, up to
// 8 MiB; the next waits until the committer takes the queue.
func TestAppendWaitsWhilePendingIsFull(t *testing.T) {
	cfg := testConfig(t)
	cfg.SegmentBytes = 1 << 20
	cfg.QuotaBytes = 64 << 20
	s, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20-64)
	for i := 0; i < 8; i++ {
		if err := s.Append(big, nil); err != nil {
			t.Fatalf("Append #%d: %v", i, err)
		}
	}
	returned := make(chan error, 1)
	go func() { returned <- s.Append(big, nil) }()
	select {
	case err := <-returned:
		t.Fatalf("9th MiB Append returned %v before Run; want it to wait", err)
	case <-time.After(20 * time.Millisecond):
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	if err := <-returned; err != nil {
		t.Fatalf("9th Append after Run started = %v; want nil", err)
	}
	waitFor(t, 5*time.Second, "all 9 durable", func() bool {
		seq, _, err := s.Next(ctx, 8)
		return err == nil && seq == 9
	})
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
}

// TestSegmentCreateFailureIsSynchronous: when a new segment cannot be
// created, Append says so at once and the spool stays usable.
func TestSegmentCreateFailureIsSynchronous(t *testing.T) {
	cfg := testConfig(t)
	s, stop := startSpool(t, cfg)
	if err := os.RemoveAll(cfg.Dir); err != nil {
		t.Fatal(err)
	}
	called := false
	err := s.Append([]byte("x"), func(uint64, error) { called = true })
	if err == nil || errors.Is(err, ErrFull) || errors.Is(err, ErrClosed) {
		t.Fatalf("Append without a directory = %v; want a create error", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if seq := appendSync(t, s, []byte("y")); seq != 1 {
		t.Fatalf("Append after the directory came back = seq %d; want 1", seq)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v; want nil (the failure was not a write failure)", err)
	}
	if called {
		t.Fatal("done called for a refused Append")
	}
}

// TestFilePermissions: spooled records are device payloads; only the
// bridge's user may read them. Directories the spool creates are 0700,
// its files (segments, seed, ack watermark) 0600, like the MQTT store's
// bbolt file (issue 10: they were 0755 and 0644).
func TestFilePermissions(t *testing.T) {
	cfg := testConfig(t)
	parent := filepath.Join(cfg.Dir, "var")
	cfg.Dir = filepath.Join(parent, "spool")
	s, stop := startSpool(t, cfg)
	for i := range 60 { // two segments
		appendSync(t, s, payload(i, 100))
	}
	s.Ack(1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{parent, cfg.Dir} {
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("directory %s: mode %v, %v; want 0700", dir, fi.Mode().Perm(), err)
		}
	}
	ents, err := os.ReadDir(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 3 {
		t.Fatalf("spool dir holds %d files; want segments and the ack watermark", len(ents))
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v; want 0600", e.Name(), fi.Mode().Perm())
		}
	}
}
