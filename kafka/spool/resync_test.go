package spool

import (
	"bytes"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"
)

const (
	rsN    = 112 // records in the segment, as in the integration fault test
	rsSize = 100 // data bytes per record
	rsRec  = recHeaderLen + rsSize
)

// rsConfig holds rsN records of rsSize bytes in one (active) segment.
func rsConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.SegmentBytes = 64 << 10
	cfg.QuotaBytes = 16 * cfg.SegmentBytes
	return cfg
}

// recOff is the offset of record k (seq k, from 1) in segment 1.
func recOff(k int) int { return headerLen + (k-1)*rsRec }

// editSegment rewrites segment 1 through edit.
func editSegment(t *testing.T, cfg Config, edit func([]byte) []byte) {
	t.Helper()
	path := segPath(cfg.Dir, 1)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// seqsExcept returns 1..n without the seqs in lost.
func seqsExcept(n int, lost ...int) []uint64 {
	var s []uint64
	for i := 1; i <= n; i++ {
		if !slices.Contains(lost, i) {
			s = append(s, uint64(i))
		}
	}
	return s
}

func TestResyncAfterCorruptRecord(t *testing.T) {
	tests := []struct {
		name string
		edit func([]byte) []byte
		lost []int // seqs lost
		// damage expected in the stats
		skipped   int64
		truncated bool
	}{
		{"data of first", flip(recOff(1) + recHeaderLen + 7), []int{1}, rsRec, false},
		{"data of middle", flip(recOff(57) + recHeaderLen + 50), []int{57}, rsRec, false},
		{"length of middle", flip(recOff(57) + 0), []int{57}, rsRec, false},
		{"crc of middle", flip(recOff(57) + 5), []int{57}, rsRec, false},
		{"seq of middle", flip(recOff(57) + 8), []int{57}, rsRec, false},
		{"high seq byte of middle", flip(recOff(57) + 15), []int{57}, rsRec, false},
		{"second to last", flip(recOff(rsN-1) + recHeaderLen), []int{rsN - 1}, rsRec, false},
		// The last record cannot be told from a torn tail: cut, as before.
		{"data of last", flip(recOff(rsN) + recHeaderLen + 99), []int{rsN}, 0, true},
		{"two records", func(b []byte) []byte {
			return flip(recOff(80) + recHeaderLen + 1)(flip(recOff(10) + recHeaderLen + 1)(b))
		}, []int{10, 80}, 2 * rsRec, false},
		{"two adjacent records", func(b []byte) []byte {
			return flip(recOff(31) + 3)(flip(recOff(30) + recHeaderLen + 1)(b))
		}, []int{30, 31}, 2 * rsRec, false},
		{"length past the end of the file", func(b []byte) []byte {
			b[recOff(40)], b[recOff(40)+1], b[recOff(40)+2], b[recOff(40)+3] = 0, 0xff, 0xff, 0x7f
			return b
		}, []int{40}, rsRec, false},
		{"zeroed run over three records", func(b []byte) []byte {
			clear(b[recOff(20)+30 : recOff(22)+40])
			return b
		}, []int{20, 21, 22}, 3 * rsRec, false},
		{"damaged middle, torn tail", func(b []byte) []byte {
			b = flip(recOff(50) + recHeaderLen + 9)(b)
			clear(b[recOff(rsN)+rsRec-10:])
			return b
		}, []int{50, rsN}, rsRec, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := rsConfig(t)
			writeSpool(t, cfg, rsN-1, rsSize)
			editSegment(t, cfg, tt.edit)
			seqs, st := openStats(t, cfg)
			if want := seqsExcept(rsN, tt.lost...); !slices.Equal(seqs, want) {
				t.Fatalf("replayed %v; want 1..%d without %v", seqs, rsN, tt.lost)
			}
			wantLost := uint64(len(tt.lost))
			if tt.truncated {
				wantLost--
			}
			if st.SkippedBytes != tt.skipped || st.LostRecords != wantLost || (st.TruncatedBytes > 0) != tt.truncated || st.CorruptSegments != 0 {
				t.Fatalf("SkippedBytes %d, LostRecords %d, TruncatedBytes %d, CorruptSegments %d; want %d, %d, truncated %v, 0",
					st.SkippedBytes, st.LostRecords, st.TruncatedBytes, st.CorruptSegments, tt.skipped, wantLost, tt.truncated)
			}
		})
	}
}

// flip returns an edit that inverts the byte at off.
func flip(off int) func([]byte) []byte {
	return func(b []byte) []byte {
		b[off] ^= 0xff
		return b
	}
}

func TestResyncAfterInsertedGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 37)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32()) | 1 // never zero
	}
	tests := []struct {
		name    string
		at      int
		lost    []int
		skipped int64
	}{
		// Between records 20 and 21: nothing is lost, the run is skipped.
		{"between records", recOff(21), nil, int64(len(garbage))},
		// Inside record 20: it no longer checks out.
		{"inside a record", recOff(20) + recHeaderLen + 10, []int{20}, int64(rsRec + len(garbage))},
		{"before the first record", recOff(1), nil, int64(len(garbage))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := rsConfig(t)
			writeSpool(t, cfg, rsN-1, rsSize)
			editSegment(t, cfg, func(b []byte) []byte { return slices.Insert(b, tt.at, garbage...) })
			seqs, st := openStats(t, cfg) // checks each record's data too
			if want := seqsExcept(rsN, tt.lost...); !slices.Equal(seqs, want) {
				t.Fatalf("replayed %v; want 1..%d without %v", seqs, rsN, tt.lost)
			}
			if st.SkippedBytes != tt.skipped || st.LostRecords != uint64(len(tt.lost)) || st.TruncatedBytes != 0 {
				t.Fatalf("SkippedBytes %d, LostRecords %d, TruncatedBytes %d; want %d, %d, 0", st.SkippedBytes, st.LostRecords, st.TruncatedBytes, tt.skipped, len(tt.lost))
			}
		})
	}
}

// TestResyncRandomDamage flips random bytes in random records: every record
// not hit is replayed with its data, in order, and no hit record is.
func TestResyncRandomDamage(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 20 {
		cfg := rsConfig(t)
		writeSpool(t, cfg, rsN-1, rsSize)
		var hit []int
		editSegment(t, cfg, func(b []byte) []byte {
			for range 1 + rng.IntN(4) {
				k := 1 + rng.IntN(rsN-1) // not the last: that one is a torn tail
				b[recOff(k)+rng.IntN(rsRec)] ^= byte(1 + rng.IntN(255))
				if !slices.Contains(hit, k) {
					hit = append(hit, k)
				}
			}
			return b
		})
		seqs, st := openStats(t, cfg)
		if want := seqsExcept(rsN, hit...); !slices.Equal(seqs, want) {
			t.Fatalf("round %d: replayed %v; want 1..%d without %v", round, seqs, rsN, hit)
		}
		if st.LostRecords != uint64(len(hit)) || st.TruncatedBytes != 0 {
			t.Fatalf("round %d: LostRecords %d, TruncatedBytes %d; want %d, 0", round, st.LostRecords, st.TruncatedBytes, len(hit))
		}
	}
}

// TestResyncRestartAppendReopen: after a resync the damaged segment keeps its
// good records, new appends go to a new segment, a second Open finds the
// same records again plus the new ones, and acks across the gap move the
// watermark past the lost seq.
func TestResyncRestartAppendReopen(t *testing.T) {
	cfg := rsConfig(t)
	writeSpool(t, cfg, rsN-1, rsSize)
	editSegment(t, cfg, flip(recOff(57)+recHeaderLen+3))

	// First restart: replay, append five more, ack 1..60.
	s, stop := startSpool(t, cfg)
	if st := s.Stats(); st.Recovered != rsN-1 || st.LostRecords != 1 || st.SkippedBytes != rsRec {
		t.Fatalf("first Open: %+v", st)
	}
	end := int64(recOff(rsN) + rsRec)
	if got := fileSize(t, segPath(cfg.Dir, 1)); got != end {
		t.Fatalf("segment 1 is %d bytes; want %d (cut after the last record)", got, end)
	}
	for i := rsN; i < rsN+5; i++ {
		if seq := appendSync(t, s, payload(i, rsSize)); seq != uint64(i+1) {
			t.Fatalf("Append = seq %d; want %d", seq, i+1)
		}
	}
	if _, err := os.Stat(segPath(cfg.Dir, rsN+1)); err != nil {
		t.Fatalf("appends after recovery did not start a new segment: %v", err)
	}
	var after uint64
	for after < 60 {
		seq, _ := nextT(t, s, after)
		if seq == 57 {
			t.Fatal("Next returned the lost seq 57")
		}
		s.Ack(seq)
		after = seq
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, segPath(cfg.Dir, 1)); got != end {
		t.Fatalf("segment 1 is %d bytes after the restart; want %d", got, end)
	}

	// Second restart: the same records (the damage is found again), minus
	// the acked ones, plus the new ones.
	seqs, st := openStats(t, cfg)
	var want []uint64
	for i := uint64(61); i <= rsN+5; i++ {
		want = append(want, i)
	}
	if !slices.Equal(seqs, want) {
		t.Fatalf("second Open replayed %v; want 61..%d", seqs, rsN+5)
	}
	if st.AckWatermark != 60 || st.LostRecords != 1 || st.SkippedBytes != rsRec || st.RecoveredAcked != 59 {
		t.Fatalf("second Open: %+v; want watermark 60, 1 lost, %d skipped, 59 acked", st, rsRec)
	}
}

// TestResyncSegmentDeletedOnceAcked: a segment with a lost record is deleted
// once every other record in it is acked.
func TestResyncSegmentDeletedOnceAcked(t *testing.T) {
	cfg := rsConfig(t)
	writeSpool(t, cfg, rsN-1, rsSize)
	editSegment(t, cfg, flip(recOff(1)+recHeaderLen))
	s, _ := startSpool(t, cfg)
	var after uint64
	for !s.Empty() {
		seq, _ := nextT(t, s, after)
		s.Ack(seq)
		after = seq
	}
	waitFor(t, 5*time.Second, "segment 1 deleted", func() bool {
		_, err := os.Stat(segPath(cfg.Dir, 1))
		return os.IsNotExist(err)
	})
}

// BenchmarkScanGarbageSegment is the worst case of a resync: a 16 MiB
// segment whose records are all garbage, so every offset is tried.
func BenchmarkScanGarbageSegment(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	seg := appendHeader(nil, 1)
	for len(seg) < 16<<20 {
		seg = append(seg, byte(rng.Uint32()))
	}
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := scanSegment(bytes.NewReader(seg), int64(len(seg)), nil)
		if err != nil || len(res.offs) != 0 {
			b.Fatalf("scan: %d records, %v", len(res.offs), err)
		}
	}
}
