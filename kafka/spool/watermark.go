package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"os"
	"path/filepath"
	"time"
)

// The ack watermark file, version 1 (see README.md). Integers little endian.
//
//	[0:8]   magic "MKBSPACK"
//	[8:10]  version, uint16 = 1
//	[10:18] W, uint64: every record with seq <= W is acked
//	[18:26] next seq, uint64: the seq counter when the file was written
//	[26:30] range count k, uint32
//	[30:30+16k] k ranges above W: from, to uint64 (inclusive), every seq in
//	        them acked; sorted, disjoint, W+1 < from <= to < next seq
//	[30+16k:34+16k] CRC32C of every byte before it
const (
	wmName      = "acked.wm"
	wmTmpName   = "acked.wm.tmp"
	wmMagic     = "MKBSPACK"
	wmVersion   = 1
	wmHeaderLen = 30
	// wmEvery is how often Run writes the watermark when acks happened.
	wmEvery = 100 * time.Millisecond
	// wmRangesRun caps the ranges of a periodic write (16 KiB of ranges);
	// wmRangesFinal caps the write at the end of Run (1 MiB). Ranges past
	// the cap are left out: those acked records are replayed.
	wmRangesRun   = 1024
	wmRangesFinal = 1 << 16
	// wmMaxRanges bounds what a reader accepts.
	wmMaxRanges = wmRangesFinal
)

// ackRange is a run of acked seqs, from..to inclusive.
type ackRange struct{ from, to uint64 }

// ackState is what the watermark file holds.
type ackState struct {
	w      uint64     // every seq <= w is acked
	next   uint64     // the seq counter; 0 when unknown
	ranges []ackRange // acked runs above w+1
}

// covers reports whether st says seq is acked.
func (st *ackState) covers(seq uint64) bool {
	if seq <= st.w {
		return true
	}
	for _, r := range st.ranges {
		if seq >= r.from && seq <= r.to {
			return true
		}
	}
	return false
}

// top returns the highest seq st says anything about.
func (st *ackState) top() uint64 {
	t := st.w
	if st.next > 0 {
		t = max(t, st.next-1)
	}
	if n := len(st.ranges); n > 0 {
		t = max(t, st.ranges[n-1].to)
	}
	return t
}

var errBadWatermark = errors.New("bad ack watermark file")

func encodeWatermark(st ackState) []byte {
	b := make([]byte, 0, wmHeaderLen+16*len(st.ranges)+4)
	b = append(b, wmMagic...)
	b = binary.LittleEndian.AppendUint16(b, wmVersion)
	b = binary.LittleEndian.AppendUint64(b, st.w)
	b = binary.LittleEndian.AppendUint64(b, st.next)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(st.ranges)))
	for _, r := range st.ranges {
		b = binary.LittleEndian.AppendUint64(b, r.from)
		b = binary.LittleEndian.AppendUint64(b, r.to)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeWatermark checks a watermark file's bytes; anything off is
// errBadWatermark (wrapped).
func decodeWatermark(b []byte) (ackState, error) {
	var st ackState
	if len(b) < wmHeaderLen+4 {
		return st, fmt.Errorf("%w: %d bytes", errBadWatermark, len(b))
	}
	if string(b[0:8]) != wmMagic {
		return st, fmt.Errorf("%w: magic %q", errBadWatermark, b[0:8])
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return st, fmt.Errorf("%w: checksum mismatch", errBadWatermark)
	}
	if v := binary.LittleEndian.Uint16(b[8:10]); v != wmVersion {
		return st, fmt.Errorf("%w: unknown version %d", errBadWatermark, v)
	}
	st.w = binary.LittleEndian.Uint64(b[10:18])
	st.next = binary.LittleEndian.Uint64(b[18:26])
	k := binary.LittleEndian.Uint32(b[26:30])
	if k > wmMaxRanges || len(body) != wmHeaderLen+16*int(k) {
		return st, fmt.Errorf("%w: %d ranges in %d bytes", errBadWatermark, k, len(b))
	}
	if st.next <= st.w {
		return st, fmt.Errorf("%w: next seq %d not above W %d", errBadWatermark, st.next, st.w)
	}
	low := st.w + 1 // a range must start above this
	for i := 0; i < int(k); i++ {
		r := ackRange{
			from: binary.LittleEndian.Uint64(body[wmHeaderLen+16*i:]),
			to:   binary.LittleEndian.Uint64(body[wmHeaderLen+16*i+8:]),
		}
		if r.from <= low || r.to < r.from || r.to >= st.next {
			return st, fmt.Errorf("%w: range %d..%d out of order", errBadWatermark, r.from, r.to)
		}
		st.ranges = append(st.ranges, r)
		low = r.to + 1
	}
	return st, nil
}

// readWatermark reads dir's watermark file. A missing file is (zero,
// false, nil); an unreadable one (zero, true, errBadWatermark); an I/O
// error is returned as is.
func readWatermark(dir string) (ackState, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, wmName))
	if errors.Is(err, os.ErrNotExist) {
		return ackState{}, false, nil
	}
	if err != nil {
		return ackState{}, true, fmt.Errorf("read ack watermark: %w", err)
	}
	st, err := decodeWatermark(b)
	if err != nil {
		return ackState{}, true, err
	}
	return st, true, nil
}

// writeWatermark replaces dir's watermark file atomically: temp file,
// fsync, rename, fsync of the directory.
func writeWatermark(dir string, st ackState) error {
	tmp := filepath.Join(dir, wmTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write ack watermark: %w", err)
	}
	if _, err := f.Write(encodeWatermark(st)); err != nil {
		f.Close()
		return fmt.Errorf("write ack watermark: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync ack watermark: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write ack watermark: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, wmName)); err != nil {
		return fmt.Errorf("rename ack watermark: %w", err)
	}
	return syncDir(dir)
}

// ackedState computes the watermark from the in-memory acks, with at most
// maxRanges ranges above W. Caller holds mu. A seq below nextSeq that no
// segment holds counts as acked: its segment was deleted once fully acked
// (or it was lost to damage and cannot be replayed anyway).
func (s *Spool) ackedState(maxRanges int) ackState {
	// runs[0] is the run from seq 0, so runs[0].to is W.
	runs := []ackRange{{0, 0}}
	full := false
	add := func(from, to uint64) {
		if full || from > to {
			return
		}
		if last := &runs[len(runs)-1]; last.to+1 >= from {
			last.to = max(last.to, to)
			return
		}
		if len(runs) > maxRanges {
			full = true // leaving the rest out only means more replays
			return
		}
		runs = append(runs, ackRange{from, to})
	}
	pos := uint64(1) // the lowest seq not yet classified
	for _, g := range s.segs {
		if full {
			break
		}
		if g.n() == 0 {
			continue
		}
		add(pos, g.first-1)
		g.ackedRuns(func(from, to int) bool {
			add(g.first+uint64(from), g.first+uint64(to)-1)
			return !full
		})
		pos = g.last() + 1
	}
	add(pos, s.nextSeq-1)
	return ackState{w: runs[0].to, next: s.nextSeq, ranges: runs[1:]}
}

// ackedRuns calls fn with each maximal run [from, to) of acked record
// indexes of g, in order, until fn returns false. It skips whole words.
func (g *segment) ackedRuns(fn func(from, to int) bool) {
	for i := 0; i < g.n(); {
		i = g.nextAcked(i)
		if i >= g.n() {
			return
		}
		j := g.nextUnacked(i)
		if !fn(i, j) {
			return
		}
		i = j
	}
}

// nextAcked returns the index of the first acked record at or after from,
// or n() if there is none.
func (g *segment) nextAcked(from int) int {
	for i := from; i < g.n(); {
		w := g.acked[i>>6] >> (uint(i) & 63)
		if w == 0 {
			i = (i>>6 + 1) << 6
			continue
		}
		return min(i+bits.TrailingZeros64(w), g.n())
	}
	return g.n()
}

// markAcked acks the records of g whose seqs st covers and returns how many
// it newly acked. Open only.
func (g *segment) markAcked(st *ackState) int {
	n := 0
	mark := func(from, to uint64) { // seqs, inclusive
		from, to = max(from, g.first), min(to, g.last())
		for seq := from; seq <= to && seq >= g.first; seq++ {
			i := int(seq - g.first)
			if !g.isAcked(i) {
				g.acked[i>>6] |= 1 << (uint(i) & 63)
				n++
			}
		}
	}
	if g.n() == 0 {
		return 0
	}
	mark(1, st.w)
	for _, r := range st.ranges {
		mark(r.from, r.to)
	}
	g.nAcked += n
	return n
}
