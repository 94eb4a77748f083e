package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// On-disk format, version 1 (see README.md). All integers are little endian.
//
//	segment header (22 bytes):
//	  [0:8]   magic "MKBSPOOL"
//	  [8:10]  format version, uint16 = 1
//	  [10:18] first seq, uint64
//	  [18:22] CRC32C (Castagnoli) of bytes [0:18]
//	record (16 + len bytes):
//	  [0:4]   data length, uint32
//	  [4:8]   CRC32C of seq (8 bytes, little endian) followed by data
//	  [8:16]  seq, uint64
//	  [16:]   data
const (
	magic         = "MKBSPOOL"
	formatVersion = 1
	headerLen     = 22
	recHeaderLen  = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errShortHeader = errors.New("segment shorter than its header")
	errBadHeader   = errors.New("bad segment header")
)

func appendHeader(b []byte, first uint64) []byte {
	start := len(b)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint16(b, formatVersion)
	b = binary.LittleEndian.AppendUint64(b, first)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

func parseHeader(h []byte) (first uint64, err error) {
	if len(h) < headerLen {
		return 0, errShortHeader
	}
	if string(h[0:8]) != magic {
		return 0, fmt.Errorf("%w: magic %q", errBadHeader, h[0:8])
	}
	if crc32.Checksum(h[:18], castagnoli) != binary.LittleEndian.Uint32(h[18:22]) {
		return 0, fmt.Errorf("%w: checksum mismatch", errBadHeader)
	}
	if v := binary.LittleEndian.Uint16(h[8:10]); v != formatVersion {
		return 0, fmt.Errorf("%w: unknown format version %d", errBadHeader, v)
	}
	return binary.LittleEndian.Uint64(h[10:18]), nil
}

// recordCRC is the CRC32C of seq (little endian) followed by data.
func recordCRC(seq uint64, data []byte) uint32 {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	return crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, data)
}

// appendRecord encodes a record. seq and data are contiguous in the record,
// so the CRC is computed over them in place (no allocation).
func appendRecord(b []byte, seq uint64, data []byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, 0) // CRC, filled in below
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+8:], castagnoli))
	return b
}

// scanResult describes what a segment file holds.
type scanResult struct {
	first uint64 // first seq from the header
	// offs has the offset of record i, whose seq is first+i. A record lost
	// to damage in the middle of the segment (see skips) has the offset of
	// the damaged run it fell in; it must never be read.
	offs []uint32
	// skips lists the damaged runs that the scan stepped over to reach the
	// next intact record, in file order.
	skips []skip
	// validEnd is the offset just after the last intact record: the length
	// the file is truncated to.
	validEnd int64
	// dirtyEnd is the offset just after the last non-zero byte at or after
	// validEnd; dirtyEnd-validEnd bytes are damage. An all-zero tail is
	// preallocated space, not damage.
	dirtyEnd int64
}

// skip is a damaged run inside a segment: bytes [off, to) hold no intact
// record, and the record at to is intact. The seqs first+idx up to
// first+idx+lost-1 fell in the run (lost may be 0: inserted garbage).
type skip struct {
	off, to int64
	idx     int
	lost    int
}

// lost reports whether record i fell in a damaged run.
func (r *scanResult) lost(i int) bool {
	for _, k := range r.skips {
		if i >= k.idx && i < k.idx+k.lost {
			return true
		}
	}
	return false
}

// scanSegment reads a segment of size bytes from r. It returns errShortHeader
// or errBadHeader (wrapped) when the header is unusable, an I/O error as is,
// and otherwise the intact records. Each record must have the next seq
// (first, first+1, ...), a length that fits in the file and a valid CRC.
//
// At the first record that does not, the scan looks for the next intact one:
// it tries every later offset, up to the last non-zero byte of the file, for
// a record with a valid CRC and a seq that could follow (see resyncAt). If
// one is found, the seqs in between are lost (recorded in skips) and the scan
// goes on from there; otherwise the scan ends (a torn or corrupt tail). fn,
// if not nil, sees every intact record in order; data is only valid during
// the call.
func scanSegment(r io.ReaderAt, size int64, fn func(seq uint64, data []byte)) (scanResult, error) {
	var res scanResult
	if size < headerLen {
		return res, errShortHeader
	}
	w := window{r: r, size: size, buf: make([]byte, 0, 64<<10)}
	hdr, err := w.at(0, headerLen)
	if err != nil {
		return res, err
	}
	first, err := parseHeader(hdr)
	if err != nil {
		return res, err
	}
	res.first = first
	off := int64(headerLen)
	want := first
	dirty := int64(-1) // offset after the last non-zero byte of the file; found at the first damage
	for size-off >= recHeaderLen {
		n, data, err := w.record(off, want, want)
		if err != nil {
			return res, err
		}
		if data != nil {
			res.offs = append(res.offs, uint32(off))
			if fn != nil {
				fn(want, data)
			}
			off += recHeaderLen + n
			want++
			continue
		}
		if dirty < 0 {
			if dirty, err = lastNonZero(r, off, size); err != nil {
				return res, err
			}
		}
		to, seq, err := w.resyncAt(off, dirty, want)
		if err != nil {
			return res, err
		}
		if to < 0 {
			break
		}
		k := skip{off: off, to: to, idx: len(res.offs), lost: int(seq - want)}
		for range k.lost {
			res.offs = append(res.offs, uint32(off))
		}
		res.skips = append(res.skips, k)
		off, want = to, seq
	}
	res.validEnd = off
	if dirty < 0 {
		if dirty, err = lastNonZero(r, off, size); err != nil {
			return res, err
		}
	}
	res.dirtyEnd = max(off, dirty)
	return res, nil
}

// resyncAt looks for the first intact record after the damage at off,
// trying every offset up to limit (the end of the non-zero bytes). A
// candidate at c must pass every check of a record read in order, and its
// seq must lie in [want, want+(c-off)/16]: at least want (seqs never go back,
// and want itself is possible when garbage was inserted), and at most one
// seq per 16 bytes skipped (each lost record took at least its header).
// That bound keeps a match found by chance inside damaged bytes unlikely
// (a CRC32C and a seq window must both agree). It returns the offset and
// seq of the record found, or -1.
func (w *window) resyncAt(off, limit int64, want uint64) (int64, uint64, error) {
	for c := off + 1; c < limit && w.size-c >= recHeaderLen; c++ {
		hi := want + uint64((c-off)/recHeaderLen)
		if hi < want {
			hi = math.MaxUint64
		}
		_, data, err := w.record(c, want, hi)
		if err != nil {
			return -1, 0, err
		}
		if data != nil {
			h, err := w.at(c, recHeaderLen)
			if err != nil {
				return -1, 0, err
			}
			return c, binary.LittleEndian.Uint64(h[8:16]), nil
		}
	}
	return -1, 0, nil
}

// window reads a segment through a buffer that slides forward.
type window struct {
	r    io.ReaderAt
	size int64
	buf  []byte // bytes [off, off+len(buf)) of the file
	off  int64
	big  []byte // a record larger than buf
}

// at returns the n bytes at off, which must lie inside the file. The slice
// is valid until the next call.
func (w *window) at(off int64, n int) ([]byte, error) {
	if off >= w.off && off+int64(n) <= w.off+int64(len(w.buf)) {
		return w.buf[off-w.off:][:n], nil
	}
	b := &w.buf
	if n > cap(w.buf) {
		if cap(w.big) < n {
			w.big = make([]byte, n)
		}
		b = &w.big
		*b = (*b)[:n]
	} else {
		*b = (*b)[:min(int64(cap(*b)), w.size-off)]
		w.off = off
	}
	if k, err := w.r.ReadAt(*b, off); k < len(*b) {
		w.buf, w.off = w.buf[:0], 0
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, readErr(err)
	}
	return (*b)[:n], nil
}

// record checks the record at off: a seq in [lo, hi], a length that fits in
// the file and a valid CRC. It returns the data length and the data (valid
// until the next read), or nil data if the record is not intact.
func (w *window) record(off int64, lo, hi uint64) (int64, []byte, error) {
	if off > maxSegmentBytes || w.size-off < recHeaderLen {
		return 0, nil, nil
	}
	h, err := w.at(off, recHeaderLen)
	if err != nil {
		return 0, nil, err
	}
	n := int64(binary.LittleEndian.Uint32(h[0:4]))
	crc := binary.LittleEndian.Uint32(h[4:8])
	seq := binary.LittleEndian.Uint64(h[8:16])
	if seq < lo || seq > hi || n > w.size-off-recHeaderLen {
		return 0, nil, nil
	}
	rec, err := w.at(off, int(recHeaderLen+n))
	if err != nil {
		return 0, nil, err
	}
	if crc32.Checksum(rec[8:], castagnoli) != crc {
		return 0, nil, nil
	}
	return n, rec[recHeaderLen:], nil
}

// lastNonZero returns the offset just after the last non-zero byte in
// [from, size) of r, or from if there is none.
func lastNonZero(r io.ReaderAt, from, size int64) (int64, error) {
	end := from
	buf := make([]byte, 32<<10)
	for pos := from; pos < size; {
		b := buf[:min(int64(len(buf)), size-pos)]
		if k, err := r.ReadAt(b, pos); k < len(b) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return 0, readErr(err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				end = pos + int64(i) + 1
				break
			}
		}
		pos += int64(len(b))
	}
	return end, nil
}

// readErr turns a short read (the file shrank under us) into a plain error.
func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("segment shorter than its size: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// errDamaged marks a record that fails its checks when read back.
var errDamaged = errors.New("record damaged")

// decodeRecord checks an encoded record read back from a segment and returns
// its data.
func decodeRecord(b []byte, seq uint64) ([]byte, error) {
	if len(b) < recHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes", errDamaged, len(b))
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if int(n) != len(b)-recHeaderLen || binary.LittleEndian.Uint64(b[8:16]) != seq {
		return nil, fmt.Errorf("%w: header does not match the index", errDamaged)
	}
	data := b[recHeaderLen:]
	if crc32.Checksum(b[8:], castagnoli) != binary.LittleEndian.Uint32(b[4:8]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errDamaged)
	}
	return data, nil
}
