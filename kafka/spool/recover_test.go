package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// writeSpool appends n+1 records of size bytes and stops the spool without
// acking, leaving them on disk.
func writeSpool(t *testing.T, cfg Config, n, size int) {
	t.Helper()
	s, stop := startSpool(t, cfg)
	for i := 0; i < n; i++ {
		if err := s.Append(payload(i, size), nil); err != nil {
			t.Fatal(err)
		}
	}
	appendSync(t, s, payload(n, size))
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// openStats opens cfg.Dir and returns the replayed records and the stats.
func openStats(t *testing.T, cfg Config) ([]uint64, Stats) {
	t.Helper()
	s, _ := startSpool(t, cfg)
	var seqs []uint64
	var after uint64
	for !s.Empty() && len(seqs) < int(s.Stats().Recovered) {
		seq, data := nextT(t, s, after)
		// Every replayed record must be the one appended with that seq.
		if want := payload(int(seq-1), len(data)); !bytes.Equal(data, want) {
			t.Fatalf("replayed record %d = %q; want %q", seq, data, want)
		}
		seqs = append(seqs, seq)
		after = seq
	}
	return seqs, s.Stats()
}

func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestTornTailEveryLength cuts the last record short by every possible number
// of bytes: the intact records before it are replayed, the tail is truncated
// and counted, and the next append reuses the lost seq.
func TestTornTailEveryLength(t *testing.T) {
	base := testConfig(t)
	writeSpool(t, base, 2, 40) // records 1..3
	// Opening once cuts the preallocated zeros, leaving exactly 3 records.
	if _, st := openStats(t, base); st.Recovered != 3 {
		t.Fatalf("Recovered = %d; want 3", st.Recovered)
	}
	seg := segPath(base.Dir, 1)
	end := fileSize(t, seg)
	if want := int64(headerLen + 3*(recHeaderLen+40)); end != want {
		t.Fatalf("segment size after recovery = %d; want %d (preallocation cut)", end, want)
	}
	recLen := int64(recHeaderLen + 40)
	for k := int64(1); k <= recLen; k++ {
		cfg := base
		cfg.Dir = copyDir(t, base.Dir)
		path := segPath(cfg.Dir, 1)
		if err := os.Truncate(path, end-k); err != nil {
			t.Fatal(err)
		}
		seqs, st := openStats(t, cfg)
		const wantSeqs = 2 // record 3 is torn (or, for k == recLen, gone)
		if len(seqs) != wantSeqs || st.Recovered != uint64(wantSeqs) {
			t.Fatalf("cut %d bytes: replayed %v (Recovered %d); want seqs 1..%d", k, seqs, st.Recovered, wantSeqs)
		}
		torn := recLen - k
		if torn > 0 && (st.TruncatedBytes <= 0 || st.TruncatedBytes > torn) {
			t.Fatalf("cut %d bytes: TruncatedBytes = %d; want 1..%d", k, st.TruncatedBytes, torn)
		}
		if torn == 0 && st.TruncatedBytes != 0 {
			t.Fatalf("cut on a record boundary: TruncatedBytes = %d; want 0", st.TruncatedBytes)
		}
		if got, want := fileSize(t, path), end-recLen; got != want {
			t.Fatalf("cut %d bytes: segment size after Open = %d; want %d", k, got, want)
		}
	}
}

func TestTornTailThenAppendReusesSeq(t *testing.T) {
	cfg := testConfig(t)
	writeSpool(t, cfg, 2, 40)
	path := segPath(cfg.Dir, 1)
	// The file is preallocated: find the end of record 3 and tear it.
	end := int64(headerLen + 3*(recHeaderLen+40))
	if err := os.Truncate(path, end-5); err != nil {
		t.Fatal(err)
	}
	s, _ := startSpool(t, cfg)
	if st := s.Stats(); st.Recovered != 2 || st.TruncatedBytes != recHeaderLen+40-5 {
		t.Fatalf("Stats = %+v; want 2 recovered, %d truncated", st, recHeaderLen+40-5)
	}
	if seq := appendSync(t, s, []byte("again")); seq != 3 {
		t.Fatalf("Append after a torn tail = seq %d; want 3", seq)
	}
}

// TestCorruptMiddleKeepsLaterSegments flips a byte in the middle of the first
// segment: only the damaged record is lost; the records after it in the same
// segment and every later segment survive.
func TestCorruptMiddleKeepsLaterSegments(t *testing.T) {
	cfg := testConfig(t)
	writeSpool(t, cfg, 69, 100) // 70 records: segment 1 holds 1..35, segment 36 holds 36..70
	path := segPath(cfg.Dir, 1)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := headerLen + 9*(recHeaderLen+100) + recHeaderLen + 50 // data of record 10
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	seqs, st := openStats(t, cfg)
	if len(seqs) != 69 || seqs[8] != 9 || seqs[9] != 11 || seqs[len(seqs)-1] != 70 {
		t.Fatalf("replayed %d records %v; want 1..9 and 11..70", len(seqs), seqs)
	}
	if st.SkippedBytes != recHeaderLen+100 || st.LostRecords != 1 || st.TruncatedBytes != 0 {
		t.Fatalf("SkippedBytes = %d, LostRecords = %d, TruncatedBytes = %d; want %d, 1, 0", st.SkippedBytes, st.LostRecords, st.TruncatedBytes, recHeaderLen+100)
	}
	if st.CorruptSegments != 0 {
		t.Fatalf("CorruptSegments = %d; want 0", st.CorruptSegments)
	}
}

func TestCorruptHeaderQuarantined(t *testing.T) {
	tests := []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"bad version", func(b []byte) []byte { b[8] = 9; return b }},
		{"bad header crc", func(b []byte) []byte { b[20] ^= 1; return b }},
		{"wrong first seq", func(b []byte) []byte { return append(appendHeader(nil, 7), b[headerLen:]...) }},
		{"short header", func(b []byte) []byte { return b[:headerLen-1] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			writeSpool(t, cfg, 69, 100)
			path := segPath(cfg.Dir, 1)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.mod(b), 0o644); err != nil {
				t.Fatal(err)
			}
			seqs, st := openStats(t, cfg)
			if len(seqs) != 35 || seqs[0] != 36 {
				t.Fatalf("replayed %v; want 36..70", seqs)
			}
			if st.CorruptSegments != 1 {
				t.Fatalf("CorruptSegments = %d; want 1", st.CorruptSegments)
			}
			if _, err := os.Stat(path + ".corrupt"); err != nil {
				t.Fatalf("quarantined file: %v", err)
			}
		})
	}
}

func TestEmptyLastSegment(t *testing.T) {
	cfg := testConfig(t)
	writeSpool(t, cfg, 2, 40)
	// A crash right after creating the next segment leaves an empty file.
	if err := os.WriteFile(segPath(cfg.Dir, 4), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	seqs, st := openStats(t, cfg)
	if len(seqs) != 3 || st.TruncatedBytes != 0 || st.CorruptSegments != 0 {
		t.Fatalf("replayed %v, Stats %+v; want 1..3 and no damage", seqs, st)
	}
	if _, err := os.Stat(segPath(cfg.Dir, 4)); !os.IsNotExist(err) {
		t.Fatalf("empty segment still there (err %v); want it removed", err)
	}
}

func TestHeaderOnlySegmentCarriesSeq(t *testing.T) {
	cfg := testConfig(t)
	if err := os.WriteFile(segPath(cfg.Dir, 42), appendHeader(nil, 42), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := startSpool(t, cfg)
	if seq := appendSync(t, s, []byte("x")); seq != 42 {
		t.Fatalf("Append = seq %d; want 42 (from the seed segment)", seq)
	}
}

func TestOpenIgnoresForeignFiles(t *testing.T) {
	cfg := testConfig(t)
	for _, name := range []string{"notes.txt", "123.seg", "00000000000000000000.seg", "0000000000000000000a.seg"} {
		if err := os.WriteFile(filepath.Join(cfg.Dir, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, st := openStats(t, cfg); st.Recovered != 0 || st.CorruptSegments != 0 {
		t.Fatalf("Stats = %+v; want foreign files ignored", st)
	}
}

func TestOpenFailsOnUnusableDir(t *testing.T) {
	cfg := testConfig(t)
	file := filepath.Join(cfg.Dir, "plain-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Dir = file
	_, err := Open(cfg, nil)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(file)) {
		t.Fatalf("Open(dir is a file) = %v; want an error naming %s", err, file)
	}
}

func TestZeroFilledSegmentRemoved(t *testing.T) {
	cfg := testConfig(t)
	writeSpool(t, cfg, 2, 40)
	// A crash after fallocate but before the header reached the disk.
	if err := os.WriteFile(segPath(cfg.Dir, 4), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	seqs, st := openStats(t, cfg)
	if len(seqs) != 3 || st.CorruptSegments != 0 || st.TruncatedBytes != 0 {
		t.Fatalf("replayed %v, Stats %+v; want 1..3, no damage", seqs, st)
	}
	if _, err := os.Stat(segPath(cfg.Dir, 4)); !os.IsNotExist(err) {
		t.Fatalf("zero-filled segment still there (err %v)", err)
	}
}
