package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// recover scans the segment directory at Open; see "Recovery" in README.md.
func (s *Spool) recover() error {
	dir := s.cfg.Dir
	// Records are device payloads: only the bridge's user may read them
	// (files 0600, directories 0700, like the MQTT store).
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("spool: create dir: %w", err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o007 != 0 {
		// Not changed here: the operator may have made it so on purpose.
		s.log.Warn("spool directory is accessible to other users; chmod 700 it", zap.String("dir", dir),
			zap.Stringer("mode", fi.Mode().Perm()))
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("spool: read dir: %w", err)
	}
	type found struct {
		first uint64
		path  string
	}
	var files []found
	for _, e := range ents {
		first, ok := parseSegName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		files = append(files, found{first, filepath.Join(dir, e.Name())})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].first < files[j].first })
	var maxSeq uint64 // highest seq known to have been used
	var seeds []*segment
	for _, fi := range files {
		g, err := s.recoverSegment(fi.path, fi.first, maxSeq)
		if err != nil {
			return err
		}
		switch {
		case g == nil:
		case g.n() == 0:
			seeds = append(seeds, g)
			maxSeq = max(maxSeq, g.first-1)
		default:
			s.segs = append(s.segs, g)
			maxSeq = g.last()
		}
	}
	wm, err := s.loadWatermark()
	if err != nil {
		return err
	}
	s.nextSeq = max(maxSeq, wm.top()) + 1
	s.durable = s.nextSeq - 1
	// Records the watermark covers are acked already: they are not
	// replayed, and a segment holding only such records is deleted.
	keep := s.segs[:0]
	for _, g := range s.segs {
		// Seqs lost to damage are acked already (by recoverSegment);
		// only the ones the watermark covers count here.
		s.st.RecoveredAcked += uint64(g.markAcked(&wm))
		if g.nAcked == g.n() {
			g.f.Close()
			g.f = nil
			if err := os.Remove(g.path); err != nil {
				return fmt.Errorf("spool: remove acked segment: %w", err)
			}
			continue
		}
		keep = append(keep, g)
		s.bytes += g.disk
		s.unacked += int64(g.n() - g.nAcked)
		s.st.Recovered += uint64(g.n() - g.nAcked)
	}
	clear(s.segs[len(keep):])
	s.segs = keep
	// An empty segment whose first seq is the next one carries the seq
	// counter across a restart; the first new segment reuses its file.
	// Other empty segments hold nothing.
	for _, g := range seeds {
		if g.first == s.nextSeq && s.seed == nil {
			s.seed = g
			s.bytes += g.disk
			continue
		}
		if err := os.Remove(g.path); err != nil {
			return fmt.Errorf("spool: remove empty segment: %w", err)
		}
	}
	if s.st.Recovered > 0 || s.st.RecoveredAcked > 0 || s.st.TruncatedBytes > 0 || s.st.SkippedBytes > 0 || s.st.CorruptSegments > 0 {
		s.log.Info("spool recovered",
			zap.Uint64("records", s.st.Recovered),
			zap.Uint64("acked_records_skipped", s.st.RecoveredAcked),
			zap.Uint64("ack_watermark", wm.w),
			zap.Int("ack_ranges", len(wm.ranges)),
			zap.Int("segments", len(s.segs)),
			zap.Int64("truncated_bytes", s.st.TruncatedBytes),
			zap.Int64("skipped_bytes", s.st.SkippedBytes),
			zap.Uint64("lost_records", s.st.LostRecords),
			zap.Int("corrupt_segments", s.st.CorruptSegments),
			zap.Uint64("next_seq", s.nextSeq))
	}
	return nil
}

// loadWatermark reads the ack watermark file. A missing or unreadable one
// means nothing is known to be acked: every record on disk is replayed.
// An I/O error fails Open: the file may hold claims that later seqs must
// not collide with.
func (s *Spool) loadWatermark() (ackState, error) {
	os.Remove(filepath.Join(s.cfg.Dir, wmTmpName)) // a write cut short
	wm, exists, err := readWatermark(s.cfg.Dir)
	switch {
	case errors.Is(err, errBadWatermark):
		s.log.Error("spool ack watermark unreadable; replaying every record on disk", zap.Error(err))
		return ackState{}, nil
	case err != nil:
		return ackState{}, fmt.Errorf("spool: %w", err)
	case !exists && len(s.segs) > 0:
		s.log.Warn("spool ack watermark missing; replaying every record on disk")
	}
	s.st.AckWatermark = wm.w
	return wm, nil
}

// recoverSegment scans one segment file, truncates it after its last intact
// record and returns it with its file open; nil if the file was empty or
// quarantined. A segment with no records is returned closed. after is the
// highest seq of the segments before it.
func (s *Spool) recoverSegment(path string, first, after uint64) (*segment, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("spool: open segment: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: stat segment: %w", err)
	}
	size := info.Size()
	if size == 0 {
		// Created but never written: a crash right after creation.
		f.Close()
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("spool: remove empty segment: %w", err)
		}
		return nil, nil
	}
	res, err := scanSegment(f, size, nil)
	if errors.Is(err, errShortHeader) || errors.Is(err, errBadHeader) {
		zero, zerr := allZero(f)
		f.Close()
		if zerr != nil {
			return nil, fmt.Errorf("spool: read segment %s: %w", path, zerr)
		}
		if zero {
			// Preallocated but the header never reached the disk: a crash
			// right after creation, before any record was acked.
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("spool: remove empty segment: %w", err)
			}
			return nil, nil
		}
		return nil, s.quarantine(path, err.Error())
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: read segment %s: %w", path, err)
	}
	if res.first != first {
		f.Close()
		return nil, s.quarantine(path, fmt.Sprintf("header first seq %d does not match the file name", res.first))
	}
	if len(res.offs) > 0 && first <= after {
		f.Close()
		return nil, s.quarantine(path, fmt.Sprintf("seqs overlap the previous segment, which ends at %d", after))
	}
	for _, k := range res.skips {
		s.st.SkippedBytes += k.to - k.off
		s.st.LostRecords += uint64(k.lost)
		fields := []zap.Field{
			zap.String("segment", path),
			zap.Int64("offset", k.off),
			zap.Int64("resume_offset", k.to),
			zap.Int64("skipped_bytes", k.to-k.off),
			zap.Int("lost_records", k.lost),
		}
		if k.lost > 0 {
			fields = append(fields,
				zap.Uint64("lost_from_seq", first+uint64(k.idx)),
				zap.Uint64("lost_to_seq", first+uint64(k.idx+k.lost)-1))
		}
		s.log.Warn("spool segment has a corrupt record; skipped to the next intact record", fields...)
	}
	if damage := res.dirtyEnd - res.validEnd; damage > 0 {
		s.st.TruncatedBytes += damage
		s.log.Warn("spool segment has a torn or corrupt tail; truncating after the last intact record",
			zap.String("segment", path),
			zap.Int("records_kept", len(res.offs)),
			zap.Int64("offset", res.validEnd),
			zap.Int64("damaged_bytes", damage))
	}
	if res.validEnd < size {
		// Cuts the damage and any preallocated zeros.
		if err := f.Truncate(res.validEnd); err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: truncate segment: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: sync segment: %w", err)
		}
	}
	g := &segment{
		first: first,
		path:  path,
		offs:  res.offs,
		end:   res.validEnd,
		disk:  res.validEnd,
		acked: make([]uint64, (len(res.offs)+63)/64),
		marks: []timeMark{{0, info.ModTime()}}, // the last write: ages after a restart are underestimated
		gaps:  len(res.skips) > 0,
	}
	// Seqs lost to damage count as acked: they can never be replayed, and
	// the watermark may then cover them like any acked seq.
	for _, k := range res.skips {
		for i := k.idx; i < k.idx+k.lost; i++ {
			g.acked[i>>6] |= 1 << (uint(i) & 63)
		}
		g.nAcked += k.lost
	}
	if len(res.offs) == 0 {
		f.Close()
		return g, nil
	}
	g.f = f
	return g, nil
}

// allZero reports whether every byte of f is zero.
func allZero(f *os.File) (bool, error) {
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		off += int64(n)
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// quarantine renames a segment whose header is unusable to *.corrupt so an
// operator can inspect it; it no longer counts as a segment.
func (s *Spool) quarantine(path, why string) error {
	s.st.CorruptSegments++
	s.log.Error("spool segment unreadable; renamed to .corrupt and skipped", zap.String("segment", path), zap.String("reason", why))
	if err := os.Rename(path, path+".corrupt"); err != nil {
		return fmt.Errorf("spool: quarantine segment: %w", err)
	}
	return nil
}

// parseSegName parses "NNNNNNNNNNNNNNNNNNNN.seg" (20 decimal digits).
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || first == 0 {
		return 0, false
	}
	return first, true
}

// closeFiles closes every open segment file (Open failure, end of Run).
func (s *Spool) closeFiles() {
	for _, g := range s.segs {
		if g.f != nil {
			g.f.Close()
			g.f = nil
		}
	}
}
