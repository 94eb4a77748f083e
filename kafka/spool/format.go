package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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
	first uint64   // first seq from the header
	offs  []uint32 // offset of each intact record; record i has seq first+i
	// validEnd is the offset just after the last intact record: the length
	// the file is truncated to.
	validEnd int64
	// dirtyEnd is the offset just after the last non-zero byte at or after
	// validEnd; dirtyEnd-validEnd bytes are damage. An all-zero tail is
	// preallocated space, not damage.
	dirtyEnd int64
}

// scanSegment reads a segment of size bytes from r. It returns errShortHeader
// or errBadHeader (wrapped) when the header is unusable, an I/O error as is,
// and otherwise the intact prefix of records: each record must have the next
// seq (first, first+1, ...), a length that fits in the file and a valid CRC;
// the first record that does not ends the scan. fn, if not nil, sees every
// intact record; data is only valid during the call.
func scanSegment(r io.Reader, size int64, fn func(seq uint64, data []byte)) (scanResult, error) {
	var res scanResult
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [headerLen]byte
	if size < headerLen {
		return res, errShortHeader
	}
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return res, readErr(err)
	}
	first, err := parseHeader(hdr[:])
	if err != nil {
		return res, err
	}
	res.first = first
	off := int64(headerLen)
	want := first
	var buf []byte
	var rh [recHeaderLen]byte
	var torn []byte // bytes of the first bad record already consumed
	for {
		if size-off < recHeaderLen {
			break
		}
		if _, err := io.ReadFull(br, rh[:]); err != nil {
			return res, readErr(err)
		}
		n := int64(binary.LittleEndian.Uint32(rh[0:4]))
		crc := binary.LittleEndian.Uint32(rh[4:8])
		seq := binary.LittleEndian.Uint64(rh[8:16])
		if seq != want || n > size-off-recHeaderLen || off > maxSegmentBytes {
			torn = rh[:]
			break
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return res, readErr(err)
		}
		if recordCRC(seq, buf) != crc {
			torn = append(rh[:], buf...)
			break
		}
		res.offs = append(res.offs, uint32(off))
		if fn != nil {
			fn(seq, buf)
		}
		off += recHeaderLen + n
		want++
	}
	res.validEnd = off
	res.dirtyEnd = off
	for i, c := range torn {
		if c != 0 {
			res.dirtyEnd = off + int64(i) + 1
		}
	}
	pos := off + int64(len(torn))
	chunk := make([]byte, 32<<10)
	for pos < size {
		m, err := br.Read(chunk)
		for i := 0; i < m; i++ {
			if chunk[i] != 0 {
				res.dirtyEnd = pos + int64(i) + 1
			}
		}
		pos += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
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
