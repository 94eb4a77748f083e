package spool

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestWatermarkEncodeDecode(t *testing.T) {
	for _, st := range []ackState{
		{w: 0, next: 1},
		{w: 7, next: 8},
		{w: 10, next: 100, ranges: []ackRange{{12, 12}, {14, 20}, {99, 99}}},
	} {
		got, err := decodeWatermark(encodeWatermark(st))
		if err != nil || !reflect.DeepEqual(got, st) {
			t.Fatalf("round trip of %+v = %+v, %v", st, got, err)
		}
	}
	good := encodeWatermark(ackState{w: 10, next: 100, ranges: []ackRange{{12, 12}, {14, 20}}})
	// Every single-byte change and every truncation is refused.
	for i := range good {
		b := slices.Clone(good)
		b[i] ^= 0x40
		if _, err := decodeWatermark(b); !errors.Is(err, errBadWatermark) {
			t.Fatalf("byte %d flipped: err = %v; want errBadWatermark", i, err)
		}
		if _, err := decodeWatermark(good[:i]); !errors.Is(err, errBadWatermark) {
			t.Fatalf("cut to %d bytes: err = %v; want errBadWatermark", i, err)
		}
	}
	// Well-formed files with impossible contents are refused too.
	reCRC := func(st ackState, edit func([]byte)) []byte {
		b := encodeWatermark(st)
		edit(b)
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
		return b
	}
	for name, b := range map[string][]byte{
		"version 2":          reCRC(ackState{w: 1, next: 2}, func(b []byte) { b[8] = 2 }),
		"next not above W":   encodeWatermark(ackState{w: 5, next: 5}),
		"range touching W":   encodeWatermark(ackState{w: 5, next: 20, ranges: []ackRange{{6, 8}}}),
		"range reversed":     encodeWatermark(ackState{w: 5, next: 20, ranges: []ackRange{{9, 8}}}),
		"ranges overlapping": encodeWatermark(ackState{w: 5, next: 20, ranges: []ackRange{{8, 10}, {10, 12}}}),
		"range past next":    encodeWatermark(ackState{w: 5, next: 20, ranges: []ackRange{{8, 20}}}),
		"count too high":     reCRC(ackState{w: 1, next: 2}, func(b []byte) { b[26] = 1 }),
	} {
		if _, err := decodeWatermark(b); !errors.Is(err, errBadWatermark) {
			t.Errorf("%s: err = %v; want errBadWatermark", name, err)
		}
	}
}

// TestAckedState checks W and the ranges computed from the in-memory acks,
// including seqs whose segment is gone and the range cap.
func TestAckedState(t *testing.T) {
	cfg := testConfig(t)
	s, err := Open(cfg, nil) // not run: segments are indexed by Append only
	if err != nil {
		t.Fatal(err)
	}
	defer s.closeFiles()
	for i := 0; i < 200; i++ { // 4 KiB segments of 35 records of 100 bytes
		if err := s.Append(payload(i, 100), nil); err != nil {
			t.Fatal(err)
		}
	}
	state := func(maxRanges int) ackState {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.ackedState(maxRanges)
	}
	ack := func(seqs ...uint64) {
		for _, q := range seqs {
			s.Ack(q)
		}
	}
	if st := state(10); st.w != 0 || st.next != 201 || len(st.ranges) != 0 {
		t.Fatalf("nothing acked: %+v", st)
	}
	ack(1, 2, 3, 5, 6, 34, 35, 36, 37, 100)
	want := ackState{w: 3, next: 201, ranges: []ackRange{{5, 6}, {34, 37}, {100, 100}}}
	if st := state(10); !reflect.DeepEqual(st, want) {
		t.Fatalf("state = %+v; want %+v", st, want)
	}
	if st := state(1); !reflect.DeepEqual(st, ackState{w: 3, next: 201, ranges: want.ranges[:1]}) {
		t.Fatalf("capped state = %+v", st)
	}
	// The first segment (1..35) disappears as if reaped: its seqs count as
	// acked, so W runs on into the second segment's acked prefix.
	s.mu.Lock()
	s.segs = s.segs[1:]
	s.mu.Unlock()
	want = ackState{w: 37, next: 201, ranges: []ackRange{{100, 100}}}
	if st := state(10); !reflect.DeepEqual(st, want) {
		t.Fatalf("after the first segment went: %+v; want %+v", st, want)
	}
	for q := uint64(1); q <= 200; q++ {
		s.Ack(q)
	}
	if st := state(10); st.w != 200 || len(st.ranges) != 0 {
		t.Fatalf("all acked: %+v", st)
	}
}

// ackSet acks seqs on s.
func ackSet(s *Spool, seqs map[uint64]bool) {
	for q := range seqs {
		s.Ack(q)
	}
}

// TestCleanShutdownReplaysNothingAcked acks a random two thirds of the
// records in random order; after a clean shutdown exactly the unacked ones
// are replayed, in order.
func TestCleanShutdownReplaysNothingAcked(t *testing.T) {
	cfg := testConfig(t)
	cfg.QuotaBytes = 1 << 20
	s, stop := startSpool(t, cfg)
	const n = 2000
	for i := 0; i < n-1; i++ {
		if err := s.Append(payload(i, 60), nil); err != nil {
			t.Fatal(err)
		}
	}
	appendSync(t, s, payload(n-1, 60))
	rng := rand.New(rand.NewPCG(1, 2))
	acked := map[uint64]bool{}
	var unacked []uint64
	for q := uint64(1); q <= n; q++ {
		if rng.IntN(3) > 0 {
			acked[q] = true
		} else {
			unacked = append(unacked, q)
		}
	}
	ackSet(s, acked)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	seqs, st := openStats(t, cfg)
	if !slices.Equal(seqs, unacked) {
		t.Fatalf("replayed %d records; want exactly the %d unacked ones", len(seqs), len(unacked))
	}
	if st.Records != int64(len(unacked)) || st.Recovered != uint64(len(unacked)) {
		t.Fatalf("Stats = %+v; want %d records", st, len(unacked))
	}
	t.Logf("acked %d of %d out of order; replayed %d (all unacked), skipped %d acked on disk", len(acked), n, len(seqs), st.RecoveredAcked)
}

// TestCrashReplaysOnlyAcksSinceLastWatermark simulates a crash by copying
// the directory while the spool runs: records acked before the last
// watermark write are not replayed, later acks are, unacked records always.
func TestCrashReplaysOnlyAcksSinceLastWatermark(t *testing.T) {
	cfg := testConfig(t)
	cfg.QuotaBytes = 1 << 20
	isTarget := func(st ackState) bool {
		return st.w == 400 && reflect.DeepEqual(st.ranges, []ackRange{{500, 550}})
	}
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s, _ := startSpoolWith(t, cfg, func(s *Spool) {
		s.wmEvery = 2 * time.Millisecond
		// Run calls the hook after a write: blocking it there holds off
		// further writes while the test acks more and "crashes".
		s.wmHook = func(st ackState) {
			if isTarget(st) {
				once.Do(func() { close(reached); <-release })
			}
		}
	})
	defer close(release)
	const n = 1000
	for i := 0; i < n-1; i++ {
		if err := s.Append(payload(i, 60), nil); err != nil {
			t.Fatal(err)
		}
	}
	appendSync(t, s, payload(n-1, 60))
	// Acked and persisted: 1..400 and, out of order, 500..550.
	first := map[uint64]bool{}
	for q := uint64(1); q <= 400; q++ {
		first[q] = true
	}
	for q := uint64(500); q <= 550; q++ {
		first[q] = true
	}
	ackSet(s, first)
	select {
	case <-reached:
	case <-time.After(5 * time.Second):
		t.Fatal("the watermark covering the first acks was not written within 5s")
	}
	// Acked after the last write: 401..450. Then the "crash".
	later := map[uint64]bool{}
	for q := uint64(401); q <= 450; q++ {
		later[q] = true
	}
	ackSet(s, later)
	crashed := copyDir(t, cfg.Dir)

	cfg2 := cfg
	cfg2.Dir = crashed
	seqs, st := openStats(t, cfg2)
	got := map[uint64]bool{}
	for _, q := range seqs {
		got[q] = true
	}
	dups := 0
	for q := uint64(1); q <= n; q++ {
		switch {
		case first[q] && got[q]:
			t.Fatalf("seq %d was covered by the last watermark write but replayed", q)
		case later[q] && got[q]:
			dups++
		case !first[q] && !later[q] && !got[q]:
			t.Fatalf("unacked seq %d not replayed", q)
		}
	}
	t.Logf("replayed %d: %d unacked + %d acked after the last watermark write (of %d); stats %+v", len(seqs), len(seqs)-dups, dups, len(later), st)
}

// TestCorruptWatermarkFullReplay: an unreadable watermark file means every
// record on disk is replayed, acked or not.
func TestCorruptWatermarkFullReplay(t *testing.T) {
	base := testConfig(t)
	s, stop := startSpool(t, base)
	for i := 0; i < 99; i++ {
		if err := s.Append(payload(i, 100), nil); err != nil {
			t.Fatal(err)
		}
	}
	appendSync(t, s, payload(99, 100))
	for q := uint64(40); q <= 60; q++ { // the middle: no segment is fully acked
		s.Ack(q)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(base.Dir, wmName))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		content []byte // nil: no file
		replay  int
	}{
		"intact":       {good, 79},
		"missing":      {nil, 100},
		"empty":        {[]byte{}, 100},
		"truncated":    {good[:len(good)-1], 100},
		"flipped byte": {append(slices.Clone(good[:12]), append([]byte{good[12] ^ 1}, good[13:]...)...), 100},
		"garbage":      {[]byte("not a watermark at all, but long enough to parse"), 100},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base
			cfg.Dir = copyDir(t, base.Dir)
			path := filepath.Join(cfg.Dir, wmName)
			os.Remove(path)
			if tc.content != nil {
				if err := os.WriteFile(path, tc.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			seqs, st := openStats(t, cfg)
			if len(seqs) != tc.replay || st.Records != int64(tc.replay) {
				t.Fatalf("replayed %d (stats %+v); want %d", len(seqs), st, tc.replay)
			}
		})
	}
}

// TestWatermarkAheadOfSegments: the watermark may cover more than the disk
// holds (segments deleted, or records lost to a torn tail after their acks
// were persisted). Covered segments are deleted, and new seqs start above
// everything the watermark names, so no new record is ever taken for acked.
func TestWatermarkAheadOfSegments(t *testing.T) {
	for _, tc := range []struct {
		name     string
		wm       ackState
		replay   []uint64
		segs     int    // segment files left with records
		nextSeq  uint64 // the first seq appended after the restart
		skippedN uint64 // records on disk the watermark covered
	}{
		{"W past everything", ackState{w: 80, next: 81}, nil, 0, 81, 50},
		{"W mid segment", ackState{w: 40, next: 51}, seqRange(41, 50), 1, 51, 40},
		{"ranges past the tail", ackState{w: 5, next: 71, ranges: []ackRange{{10, 40}, {60, 70}}}, append(seqRange(6, 9), seqRange(41, 50)...), 2, 71, 36},
		{"next only", ackState{w: 0, next: 1000}, seqRange(1, 50), 2, 1000, 0},
		{"stale W", ackState{w: 3, next: 4}, seqRange(4, 50), 2, 51, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			writeSpool(t, cfg, 49, 100) // seqs 1..50 in two segments (35 + 15)
			if err := writeWatermark(cfg.Dir, tc.wm); err != nil {
				t.Fatal(err)
			}
			s, stop := startSpool(t, cfg)
			st := s.Stats()
			if st.Records != int64(len(tc.replay)) || st.Segments != tc.segs || st.RecoveredAcked != tc.skippedN {
				t.Fatalf("Stats = %+v; want %d records in %d segments, %d skipped", st, len(tc.replay), tc.segs, tc.skippedN)
			}
			if got := len(segFiles(t, cfg.Dir)); got != tc.segs {
				t.Fatalf("%d segment files on disk; want %d (covered ones deleted)", got, tc.segs)
			}
			var after uint64
			for _, want := range tc.replay {
				seq, _ := nextT(t, s, after)
				if seq != want {
					t.Fatalf("replay: got seq %d; want %d", seq, want)
				}
				after = seq
			}
			if seq := appendSync(t, s, []byte("new")); seq != tc.nextSeq {
				t.Fatalf("first new seq = %d; want %d", seq, tc.nextSeq)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			// Nothing was acked: after another restart the new record is
			// replayed, never taken for acked.
			s2, _ := startSpool(t, cfg)
			if st := s2.Stats(); st.Records != int64(len(tc.replay))+1 {
				t.Fatalf("second restart: Stats = %+v; want %d records", st, len(tc.replay)+1)
			}
		})
	}
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for q := from; q <= to; q++ {
		s = append(s, q)
	}
	return s
}

// TestWatermarkReadErrorFailsOpen: a watermark that cannot be read (not one
// that is damaged) fails Open, since later seqs must not collide with it.
func TestWatermarkReadErrorFailsOpen(t *testing.T) {
	cfg := testConfig(t)
	if err := os.Mkdir(filepath.Join(cfg.Dir, wmName), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg, nil); err == nil {
		t.Fatal("Open with an unreadable watermark succeeded")
	}
}
