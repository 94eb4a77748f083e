package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// validSegment builds a segment holding records first.. with the given data.
func validSegment(first uint64, data ...[]byte) []byte {
	b := appendHeader(nil, first)
	for i, d := range data {
		b = appendRecord(b, first+uint64(i), d)
	}
	return b
}

// FuzzSegmentReader feeds arbitrary bytes to the segment reader: it must not
// panic, and every record it yields must be stored with a valid CRC, in seq
// order, inside the file.
func FuzzSegmentReader(f *testing.F) {
	f.Add(validSegment(1))
	f.Add(validSegment(1, []byte("a"), []byte("bc"), nil))
	f.Add(append(validSegment(5, []byte("hello")), 0, 0, 0, 0, 0, 0))
	f.Add(validSegment(1, []byte("x"))[:headerLen+10])
	f.Add([]byte("MKBSPOOL"))
	mid := validSegment(1, []byte("one"), []byte("two"), []byte("three"))
	mid[headerLen+recHeaderLen+3+recHeaderLen+1] ^= 0x40 // data of record 2
	f.Add(mid)
	f.Add(slices.Concat(validSegment(1, []byte("a")), []byte("junk"), appendRecord(nil, 2, []byte("b"))))
	f.Fuzz(func(t *testing.T, b []byte) {
		var yielded []uint64
		var datas [][]byte
		res, err := scanSegment(bytes.NewReader(b), int64(len(b)), func(seq uint64, data []byte) {
			yielded = append(yielded, seq)
			datas = append(datas, bytes.Clone(data))
		})
		if err != nil {
			if !errors.Is(err, errShortHeader) && !errors.Is(err, errBadHeader) {
				t.Fatalf("scanSegment error %v; want only header errors from a byte slice", err)
			}
			if len(yielded) > 0 {
				t.Fatal("records yielded despite an error")
			}
			return
		}
		lost := 0
		prevTo := int64(headerLen)
		for _, k := range res.skips {
			// Damaged runs are in file order, inside the intact part, and
			// each lost record took at least a record header.
			if k.off < prevTo || k.to <= k.off || k.to >= res.validEnd || int64(k.lost)*recHeaderLen > k.to-k.off || k.idx != lost+countBefore(res, k.off) {
				t.Fatalf("bad skip %+v (prev end %d, validEnd %d)", k, prevTo, res.validEnd)
			}
			prevTo = k.to
			lost += k.lost
		}
		if len(yielded) != len(res.offs)-lost {
			t.Fatalf("yielded %d records, indexed %d of which %d lost", len(yielded), len(res.offs), lost)
		}
		if res.validEnd > int64(len(b)) || res.dirtyEnd < res.validEnd || res.dirtyEnd > int64(len(b)) {
			t.Fatalf("validEnd %d, dirtyEnd %d outside [0, %d]", res.validEnd, res.dirtyEnd, len(b))
		}
		j := 0 // index into yielded
		for i, off := range res.offs {
			if res.lost(i) {
				continue
			}
			rec := b[off:]
			n := binary.LittleEndian.Uint32(rec[0:4])
			seq := binary.LittleEndian.Uint64(rec[8:16])
			data := rec[recHeaderLen : recHeaderLen+int(n)]
			if seq != res.first+uint64(i) || seq != yielded[j] {
				t.Fatalf("record %d has seq %d (yielded %d); want %d", i, seq, yielded[j], res.first+uint64(i))
			}
			if j > 0 && yielded[j] <= yielded[j-1] {
				t.Fatalf("seqs yielded out of order: %d after %d", yielded[j], yielded[j-1])
			}
			if recordCRC(seq, data) != binary.LittleEndian.Uint32(rec[4:8]) {
				t.Fatalf("record %d yielded with a bad CRC", seq)
			}
			if !bytes.Equal(data, datas[j]) {
				t.Fatalf("record %d yielded data differs from the file", seq)
			}
			if end := int64(off) + recHeaderLen + int64(n); end > res.validEnd {
				t.Fatalf("record %d ends at %d, past validEnd %d", seq, end, res.validEnd)
			}
			j++
		}
		// Whatever is cut past validEnd and not zero counts as damage.
		for i := res.dirtyEnd; i < int64(len(b)); i++ {
			if b[i] != 0 {
				t.Fatalf("byte %d past dirtyEnd %d is not zero", i, res.dirtyEnd)
			}
		}
	})
}

// countBefore counts the intact records of res that start before off.
func countBefore(res scanResult, off int64) int {
	n := 0
	for i, o := range res.offs {
		if int64(o) < off && !res.lost(i) {
			n++
		}
	}
	return n
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzSegmentReader when
// SPOOL_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("SPOOL_WRITE_SEEDS") != "1" {
		return // a generator, not a check: SPOOL_WRITE_SEEDS=1 runs it
	}
	full := validSegment(1, []byte("alpha"), []byte("beta"), bytes.Repeat([]byte{0}, 40))
	badCRC := bytes.Clone(full)
	badCRC[headerLen+recHeaderLen+2] ^= 1
	seeds := map[string][]byte{
		"valid-3":          full,
		"torn-tail":        full[:len(full)-7],
		"bad-crc-first":    badCRC,
		"prealloc-zeros":   append(bytes.Clone(full), make([]byte, 200)...),
		"bad-magic":        append([]byte("XKBSPOOL"), full[8:]...),
		"huge-length":      append(appendHeader(nil, 1), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
		"seq-gap":          append(validSegment(1, []byte("a")), appendRecord(nil, 3, []byte("c"))...),
		"header-only-seed": appendHeader(nil, 99),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSegmentReader")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		var buf bytes.Buffer
		buf.WriteString("go test fuzz v1\n[]byte(")
		buf.WriteString(quoteGo(b))
		buf.WriteString(")\n")
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// quoteGo renders b as a Go interpreted string literal.
func quoteGo(b []byte) string {
	const hex = "0123456789abcdef"
	out := []byte{'"'}
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c >= 0x20 && c < 0x7f:
			out = append(out, c)
		default:
			out = append(out, '\\', 'x', hex[c>>4], hex[c&15])
		}
	}
	return string(append(out, '"'))
}
