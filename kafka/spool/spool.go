// Package spool is the bridge's disk spill: an append-only log of segment
// files with per-record checksums, group-commit fsync, a disk quota and crash
// recovery. See README.md for the format, the states and the lock order.
package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// ErrFull is returned by Append when the disk quota has no room for the
// record. Space returns only when a whole segment is acked and deleted.
var ErrFull = errors.New("spool: disk quota full")

// ErrClosed is returned by Append and Next once Run has ended.
var ErrClosed = errors.New("spool: closed")

// maxPending bounds the bytes appended but not yet taken by the committer;
// Append waits above it (memory bound while a write or fsync is slow).
const maxPending = 8 << 20

// chunkCap is the initial capacity of a pending write buffer.
const chunkCap = 256 << 10

// Stats is a snapshot of the spool's state and counters.
type Stats struct {
	Records          int64         // unacked records (appended, not yet acked)
	Bytes            int64         // bytes of all segment files on disk (quota usage)
	QuotaBytes       int64         // the configured quota
	Segments         int           // segment files holding records
	OldestAge        time.Duration // age of the oldest unacked record (50 ms resolution; see README)
	Appended, Acked  uint64        // records appended / acked since Open
	Fsyncs           uint64        // fsync rounds since Open
	FsyncLatencyLast time.Duration // duration of the last fsync round
	Recovered        uint64        // intact unacked records found on disk by Open (replayed through Next)
	RecoveredAcked   uint64        // intact records found on disk by Open that the ack watermark covered (not replayed)
	AckWatermark     uint64        // W of the last ack watermark read or written: every seq <= W is acked on disk
	WatermarkWrites  uint64        // ack watermark files written since Open
	TruncatedBytes   int64         // damaged bytes cut from segment tails by Open
	SkippedBytes     int64         // damaged bytes inside segments that Open stepped over to reach the next intact record (left on disk)
	LostRecords      uint64        // seqs lost in those damaged runs; they count as acked
	CorruptSegments  int           // segments with a bad header, renamed *.corrupt by Open
	Damaged          uint64        // records that failed their CRC when Next read them back (skipped)
}

// segment is one segment file. Fields are guarded by Spool.mu unless noted.
type segment struct {
	first  uint64
	path   string
	offs   []uint32 // start offset of record i (seq first+i)
	end    int64    // offset after the last appended record
	disk   int64    // bytes the file occupies (preallocated size); counts in the quota
	acked  []uint64 // bitmap by record index
	nAcked int
	// gaps: recovery stepped over damage inside this segment, so a record
	// may be followed by bytes that are not the next record (see read).
	gaps bool
	// marks sample append times: record idx and later ones were appended
	// at or after t. One mark per 50 ms at most; see Stats.OldestAge.
	marks []timeMark
	f     *os.File // read by Next under mu; written only by the committer

	// Committer-only fields.
	fresh   bool // created since the last fsync: needs a full fsync, not fdatasync
	syncing bool // an interval fsync (on its own goroutine) holds the file: reap must not close it
	dirty   bool // written since the last fsync
}

type timeMark struct {
	idx int
	t   time.Time
}

// markEvery is the resolution of Stats.OldestAge.
const markEvery = 50 * time.Millisecond

func (g *segment) n() int { return len(g.offs) }

// last returns the seq of the last record; first-1 when empty.
func (g *segment) last() uint64 { return g.first + uint64(len(g.offs)) - 1 }

func (g *segment) isAcked(i int) bool { return g.acked[i>>6]&(1<<(uint(i)&63)) != 0 }

// firstUnacked returns the index of the first unacked record at or after
// from, or n() if there is none.
func (g *segment) firstUnacked() int { return g.nextUnacked(0) }

func (g *segment) nextUnacked(from int) int {
	for i := from; i < g.n(); {
		if i&63 == 0 && g.acked[i>>6] == math.MaxUint64 {
			i += 64
			continue
		}
		if !g.isAcked(i) {
			return i
		}
		i++
	}
	return g.n()
}

// recLen returns the on-disk length of record i.
func (g *segment) recLen(i int) int64 {
	if i+1 < len(g.offs) {
		return int64(g.offs[i+1]) - int64(g.offs[i])
	}
	return g.end - int64(g.offs[i])
}

// chunk is a run of bytes to write at off in seg's file.
type chunk struct {
	seg    *segment
	off    int64
	buf    []byte
	create bool // the segment's file must be created first
}

type pendingDone struct {
	seq uint64
	fn  func(uint64, error)
}

// Spool is the disk spill. Create it with Open and run it with Run.
type Spool struct {
	cfg Config
	log *zap.Logger

	kick chan struct{} // wakes the committer; size 1 so a kick is never lost

	mu       sync.Mutex
	room     *sync.Cond // signalled when pending bytes are taken or on close
	segs     []*segment // ordered by first seq; the last may be active
	active   *segment   // the segment being appended to; nil until the first Append
	seed     *segment   // an empty segment file that carries the seq counter over a restart
	nextSeq  uint64
	durable  uint64        // records up to here are durable per policy (visible to Next)
	notify   chan struct{} // closed and replaced when durable advances
	closed   bool
	closedCh chan struct{}
	running  bool
	failed   error // first write/fsync error; the spool refuses appends after it
	pend     []chunk
	pendLen  int
	dones    []pendingDone
	// sparePend and spareDones are the committer's previous queues, reused.
	sparePend  []chunk
	spareDones []pendingDone
	free       [][]byte
	hook       func(time.Duration)
	wmHook     func(ackState) // tests: after each watermark write
	wmEvery    time.Duration  // period of watermark writes; wmEvery unless a test sets it
	bytes      int64
	unacked    int64
	st         Stats
}

// Open creates cfg.Dir, scans its segments, truncates torn or corrupt tails
// and indexes every intact record for replay. Damage is logged and counted,
// never returned; Open fails only on I/O errors. It starts nothing.
func Open(cfg Config, log *zap.Logger) (*Spool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Spool{
		cfg:      cfg,
		log:      log.With(zap.String("spool_dir", cfg.Dir)),
		kick:     make(chan struct{}, 1),
		notify:   make(chan struct{}),
		closedCh: make(chan struct{}),
		nextSeq:  1,
		wmEvery:  wmEvery,
	}
	s.room = sync.NewCond(&s.mu)
	s.st.QuotaBytes = cfg.QuotaBytes
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// FsyncHook sets f to be called after each fsync round with its latency
// (for a histogram). f runs on a spool goroutine and must not block.
func (s *Spool) FsyncHook(f func(time.Duration)) {
	s.mu.Lock()
	s.hook = f
	s.mu.Unlock()
}

// Append writes data as one record and returns once it is queued. done(seq,
// nil) fires once the record is durable per the fsync policy; done(seq, err)
// if writing it failed. Seqs increase in call order and done callbacks fire
// in seq order, on the committer goroutine: done must not block and must not
// call Append. Append returns ErrFull (done not called) when the quota or
// the filesystem has no room for the next segment, ErrClosed after Run
// ended, another error (done not called) if a new segment file cannot be
// created or after a write failure, and may wait briefly while more than
// 8 MiB are queued for writing. data is copied; the caller may reuse it.
func (s *Spool) Append(data []byte, done func(seq uint64, err error)) error {
	if int64(len(data)) > maxSegmentBytes {
		return fmt.Errorf("spool: record of %d bytes exceeds the maximum of %d", len(data), maxSegmentBytes)
	}
	need := int64(recHeaderLen + len(data))
	now := time.Now()
	s.mu.Lock()
	for !s.closed && s.failed == nil && s.pendLen > 0 && s.pendLen+int(need) > maxPending {
		s.room.Wait()
	}
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.failed != nil {
		err := s.failed
		s.mu.Unlock()
		return fmt.Errorf("spool: refusing appends after a write failure: %w", err)
	}
	g := s.active
	newSeg := g == nil || (g.end+need > g.disk && g.n() > 0)
	if newSeg {
		size := max(s.cfg.SegmentBytes, headerLen+need)
		if s.bytes+size > s.cfg.QuotaBytes {
			s.mu.Unlock()
			return ErrFull
		}
		path := segPath(s.cfg.Dir, s.nextSeq)
		// The file is created and its space reserved here, so a full
		// filesystem is refused synchronously like a full quota, and the
		// committer's writes cannot run out of space.
		f, err := createSegment(path, size)
		if err != nil {
			s.mu.Unlock()
			if errors.Is(err, syscall.ENOSPC) {
				return fmt.Errorf("%w: %v", ErrFull, err)
			}
			return fmt.Errorf("spool: %w", err)
		}
		g = &segment{
			first: s.nextSeq,
			path:  path,
			end:   headerLen,
			disk:  size,
			f:     f,
		}
		s.segs = append(s.segs, g)
		s.active = g
		s.bytes += size
		if s.seed != nil {
			// The new segment has the seed's first seq and takes over its file.
			s.bytes -= s.seed.disk
			s.seed = nil
		}
		s.pend = append(s.pend, chunk{seg: g, off: 0, buf: appendHeader(s.buffer(), g.first), create: true})
	} else if len(s.pend) == 0 || s.pend[len(s.pend)-1].seg != g {
		s.pend = append(s.pend, chunk{seg: g, off: g.end, buf: s.buffer()})
	}
	seq := s.nextSeq
	s.nextSeq++
	c := &s.pend[len(s.pend)-1]
	before := len(c.buf)
	c.buf = appendRecord(c.buf, seq, data)
	s.pendLen += len(c.buf) - before
	if len(g.marks) == 0 || now.Sub(g.marks[len(g.marks)-1].t) >= markEvery {
		g.marks = append(g.marks, timeMark{idx: g.n(), t: now})
	}
	g.offs = append(g.offs, uint32(g.end))
	if g.n() > len(g.acked)*64 {
		g.acked = append(g.acked, 0)
	}
	g.end += need
	s.unacked++
	s.st.Appended++
	if done != nil {
		s.dones = append(s.dones, pendingDone{seq: seq, fn: done})
	}
	s.mu.Unlock()
	s.wake()
	return nil
}

// buffer returns an empty write buffer, reused when possible. Caller holds mu.
func (s *Spool) buffer() []byte {
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free = s.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, chunkCap)
}

func (s *Spool) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Next blocks until an unacked record with seq > after is durable per the
// policy, or ctx ends, and returns the first such record. Next(ctx, 0)
// returns the first unacked record; after Open that is the oldest record on
// disk. It returns ErrClosed once Run has ended. data is a fresh copy.
func (s *Spool) Next(ctx context.Context, after uint64) (uint64, []byte, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return 0, nil, ErrClosed
		}
		g, i, ok := s.findNext(after)
		if ok {
			seq, data, err := s.read(g, i)
			s.mu.Unlock()
			if errors.Is(err, errDamaged) {
				s.wake() // the skipped record may have freed a segment
				continue
			}
			if err != nil {
				return 0, nil, err
			}
			return seq, data, nil
		}
		ch := s.notify
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-ch:
		case <-s.closedCh:
		}
	}
}

// findNext finds the first unacked record with seq > after that is durable.
// Caller holds mu.
func (s *Spool) findNext(after uint64) (*segment, int, bool) {
	from := after + 1
	k := sort.Search(len(s.segs), func(k int) bool { return s.segs[k].last() >= from })
	for ; k < len(s.segs); k++ {
		g := s.segs[k]
		if g.nAcked == g.n() {
			continue
		}
		i := 0
		if from > g.first {
			i = int(from - g.first)
		}
		if i = g.nextUnacked(i); i < g.n() {
			if g.first+uint64(i) > s.durable {
				return nil, 0, false
			}
			return g, i, true
		}
	}
	return nil, 0, false
}

// read reads record i of g and checks it. Caller holds mu. A record that no
// longer checks out (bit rot since it was written) is logged, counted, acked
// and reported as errDamaged so that Next moves on.
func (s *Spool) read(g *segment, i int) (uint64, []byte, error) {
	seq := g.first + uint64(i)
	buf := make([]byte, g.recLen(i))
	if _, err := g.f.ReadAt(buf, int64(g.offs[i])); err != nil {
		return 0, nil, fmt.Errorf("spool: read record %d: %w", seq, err)
	}
	if g.gaps && len(buf) >= recHeaderLen {
		// Damaged bytes may follow the record: its own length says where
		// it ends. A length past the buffer is left for decodeRecord.
		if n := int64(binary.LittleEndian.Uint32(buf[0:4])); recHeaderLen+n < int64(len(buf)) {
			buf = buf[:recHeaderLen+n]
		}
	}
	rec, err := decodeRecord(buf, seq)
	if err != nil {
		s.log.Error("spool record damaged after it was written; skipping it", zap.Uint64("seq", seq), zap.String("segment", g.path), zap.Error(err))
		s.st.Damaged++
		s.ackLocked(seq)
		return 0, nil, errDamaged
	}
	return seq, rec, nil
}

// Ack marks a record delivered. Acks may come in any order; unknown or
// repeated seqs are ignored. A segment is deleted once all its records are
// acked and it is not the one being written.
func (s *Spool) Ack(seq uint64) {
	s.mu.Lock()
	freed := s.ackLocked(seq)
	s.mu.Unlock()
	if freed {
		s.wake()
	}
}

// ackLocked acks seq and reports whether a segment became deletable.
func (s *Spool) ackLocked(seq uint64) bool {
	g := s.segmentOf(seq)
	if g == nil {
		return false
	}
	i := int(seq - g.first)
	if g.isAcked(i) {
		return false
	}
	g.acked[i>>6] |= 1 << (uint(i) & 63)
	g.nAcked++
	s.unacked--
	s.st.Acked++
	return g.nAcked == g.n() && g != s.active
}

// segmentOf returns the segment holding seq, or nil. Caller holds mu.
func (s *Spool) segmentOf(seq uint64) *segment {
	k := sort.Search(len(s.segs), func(k int) bool { return s.segs[k].last() >= seq })
	if k == len(s.segs) || seq < s.segs[k].first {
		return nil
	}
	return s.segs[k]
}

// Empty reports whether every appended or recovered record is acked.
func (s *Spool) Empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unacked == 0
}

// Stats returns a snapshot.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Records = s.unacked
	st.Bytes = s.bytes
	for _, g := range s.segs {
		if g.n() > 0 {
			st.Segments++
		}
	}
	for _, g := range s.segs {
		if g.nAcked == g.n() {
			continue
		}
		i := g.firstUnacked()
		k := sort.Search(len(g.marks), func(k int) bool { return g.marks[k].idx > i }) - 1
		if k >= 0 {
			st.OldestAge = time.Since(g.marks[k].t)
		}
		break
	}
	return st
}

// createSegment creates (or, for a seed, reuses) a segment file and
// preallocates size bytes.
func createSegment(path string, size int64) (*os.File, error) {
	// No O_EXCL: the file may be the seed that carried the seq counter,
	// whose header is the one the committer writes.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if err := preallocate(f, size); err != nil {
		// The file is left: the next attempt reuses the name, and recovery
		// removes an empty or all-zero segment.
		f.Close()
		return nil, err
	}
	return f, nil
}

func segPath(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d.seg", first))
}
