package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// committer holds state only the Run goroutine touches.
type committer struct {
	dirty  []*segment // written since their last fsync
	newDir bool       // a segment file was created since the last directory fsync

	// The interval fsync runs on its own goroutine so that writes go on
	// meanwhile; syncing holds its segments, which reap must not close.
	syncing  []*segment
	syncDone chan error // size 1: the background sync's result

	// The ack watermark is written on its own goroutine too, one write at
	// a time, when acks happened since the last one.
	wmBusy  bool
	wmDone  chan wmResult // size 1: the background write's result
	wmAcked uint64        // Stats.Acked when the last write started
	wmErr   bool          // the last write failed (logged once per streak)
}

type wmResult struct {
	st  ackState
	err error
}

// syncJob is one fsync round: the files to sync and whether the directory
// needs one. It touches no segment fields, so it may run off the committer.
type syncJob struct {
	files []*os.File
	full  []bool // full fsync (new file) rather than fdatasync
	dir   bool
}

// Run writes appended records and runs the group-commit fsync loop until ctx
// ends; then it writes and syncs what is queued, fires the remaining done
// callbacks, deletes fully acked segments and closes the files. It returns the
// first write or fsync error, if any.
func (s *Spool) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running || s.closed {
		s.mu.Unlock()
		return errors.New("spool: Run called twice")
	}
	s.running = true
	s.mu.Unlock()

	c := committer{syncDone: make(chan error, 1), wmDone: make(chan wmResult, 1)}
	var tick <-chan time.Time
	if s.cfg.Fsync == FsyncInterval {
		t := time.NewTicker(s.cfg.FsyncInterval)
		defer t.Stop()
		tick = t.C
	}
	wmTick := time.NewTicker(s.wmEvery)
	defer wmTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.shutdown(&c)
		case <-wmTick.C:
			if c.wmBusy {
				continue
			}
			st, ok := s.takeAckState(&c, wmRangesRun, false)
			if !ok {
				continue
			}
			c.wmBusy = true
			go func() { c.wmDone <- wmResult{st, writeWatermark(s.cfg.Dir, st)} }()
		case r := <-c.wmDone:
			c.wmBusy = false
			s.wroteWatermark(&c, r)
		case <-s.kick:
			s.commit(&c)
			s.reap(&c, false)
		case <-tick:
			if c.syncing != nil {
				continue // the previous interval fsync is still running
			}
			job := c.take()
			if len(job.files) == 0 && !job.dir {
				continue
			}
			c.syncing = append([]*segment(nil), job.segs...)
			for _, g := range c.syncing {
				g.syncing = true
			}
			go func() { c.syncDone <- s.runSync(job.syncJob) }()
		case err := <-c.syncDone:
			c.endSync()
			if err != nil {
				s.fail(err)
			}
			s.reap(&c, false)
		}
	}
}

// endSync releases the segments of a finished background sync.
func (c *committer) endSync() {
	for _, g := range c.syncing {
		g.syncing = false
	}
	c.syncing = nil
}

// commit writes every queued record, fsyncs them when the policy is always,
// advances the durable mark and fires the done callbacks in seq order.
// Appends that arrive meanwhile wait for the next round (group commit).
func (s *Spool) commit(c *committer) {
	s.mu.Lock()
	if len(s.pend) == 0 && len(s.dones) == 0 {
		s.mu.Unlock()
		return
	}
	chunks, dones := s.pend, s.dones
	// Swap in the slices of the previous round so the queues do not regrow;
	// they are handed back below, after their last use.
	s.pend, s.dones = s.sparePend[:0], s.spareDones[:0]
	s.sparePend, s.spareDones = nil, nil
	s.pendLen = 0
	last := s.nextSeq - 1
	err := s.failed
	s.room.Broadcast()
	s.mu.Unlock()
	if err == nil {
		err = s.write(c, chunks)
	}
	if err == nil && s.cfg.Fsync == FsyncAlways {
		err = s.syncDirty(c)
	}
	s.mu.Lock()
	if err == nil {
		s.durable = last
		close(s.notify)
		s.notify = make(chan struct{})
	}
	for i, ch := range chunks {
		if len(s.free) < 4 && cap(ch.buf) <= 4*chunkCap {
			s.free = append(s.free, ch.buf)
		}
		chunks[i] = chunk{}
	}
	s.sparePend = chunks
	s.mu.Unlock()
	if err != nil {
		s.fail(err)
		err = fmt.Errorf("spool: write failed: %w", err)
	}
	for _, d := range dones {
		d.fn(d.seq, err)
	}
	clear(dones)
	s.mu.Lock()
	s.spareDones = dones
	s.mu.Unlock()
}

// write writes chunks to their files, creating new segment files first.
func (s *Spool) write(c *committer, chunks []chunk) error {
	for _, ch := range chunks {
		g := ch.seg
		if ch.create {
			g.fresh = true // the file and its directory entry need a full fsync
			c.newDir = true
		}
		if _, err := g.f.WriteAt(ch.buf, ch.off); err != nil {
			return err
		}
		if !g.dirty {
			g.dirty = true
			c.dirty = append(c.dirty, g)
		}
	}
	return nil
}

// takenJob is a syncJob plus the segments it covers.
type takenJob struct {
	syncJob
	segs []*segment
}

// take collects the files written since their last fsync and marks them
// clean.
func (c *committer) take() takenJob {
	var j takenJob
	for _, g := range c.dirty {
		j.files = append(j.files, g.f)
		j.full = append(j.full, g.fresh)
		j.segs = append(j.segs, g)
		g.dirty, g.fresh = false, false
	}
	c.dirty = c.dirty[:0]
	j.dir, c.newDir = c.newDir, false
	return j
}

// syncDirty fsyncs, on the committer, every segment written since its last
// fsync and, if a segment was created, the directory.
func (s *Spool) syncDirty(c *committer) error {
	j := c.take()
	if len(j.files) == 0 && !j.dir {
		return nil
	}
	return s.runSync(j.syncJob)
}

// runSync runs one fsync round; one round is one Fsyncs count.
func (s *Spool) runSync(j syncJob) error {
	start := time.Now()
	for i, f := range j.files {
		sync := datasync
		if j.full[i] {
			sync = (*os.File).Sync
		}
		if err := sync(f); err != nil {
			return err
		}
	}
	if j.dir {
		if err := syncDir(s.cfg.Dir); err != nil {
			return err
		}
	}
	d := time.Since(start)
	s.mu.Lock()
	s.st.Fsyncs++
	s.st.FsyncLatencyLast = d
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		hook(d)
	}
	return nil
}

// fail records the first I/O error; the spool refuses appends from then on.
func (s *Spool) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = err
		s.log.Error("spool write failed; refusing further appends", zap.Error(err))
	}
}

// reap deletes segments whose records are all acked and written. The active
// segment is kept unless final (shutdown), when it is deleted too if acked.
func (s *Spool) reap(c *committer, final bool) {
	s.mu.Lock()
	var dead []*segment
	keep := s.segs[:0]
	for _, g := range s.segs {
		if g.nAcked == g.n() && g.last() <= s.durable && (g != s.active || final) && !g.syncing {
			dead = append(dead, g)
			continue
		}
		keep = append(keep, g)
	}
	clear(s.segs[len(keep):])
	s.segs = keep
	s.mu.Unlock()
	if len(dead) == 0 {
		return
	}
	for _, g := range dead {
		if g.dirty {
			g.dirty = false
			for i, d := range c.dirty {
				if d == g {
					c.dirty = append(c.dirty[:i], c.dirty[i+1:]...)
					break
				}
			}
		}
		if g.f != nil {
			g.f.Close()
		}
		if err := os.Remove(g.path); err != nil {
			s.log.Warn("spool segment delete failed", zap.String("segment", g.path), zap.Error(err))
		}
	}
	s.mu.Lock()
	for _, g := range dead {
		s.bytes -= g.disk
		if g == s.active {
			s.active = nil
		}
	}
	s.mu.Unlock()
}

// takeAckState returns the watermark to write, or false when no ack
// happened since the last write started (final: since Open; the final
// write allows more ranges than a periodic one).
func (s *Spool) takeAckState(c *committer, maxRanges int, final bool) (ackState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Acked == c.wmAcked && !(final && s.st.Acked > 0) {
		return ackState{}, false
	}
	c.wmAcked = s.st.Acked
	return s.ackedState(maxRanges), true
}

// wroteWatermark records the outcome of a watermark write. A failed write is
// logged and otherwise ignored: the file on disk is older, which only means
// more replays after a restart.
func (s *Spool) wroteWatermark(c *committer, r wmResult) {
	if r.err != nil {
		c.wmAcked = 0 // write again at the next tick
		if !c.wmErr {
			c.wmErr = true
			s.log.Warn("spool ack watermark write failed; a restart replays more acked records", zap.Error(r.err))
		}
		return
	}
	c.wmErr = false
	s.mu.Lock()
	s.st.AckWatermark = r.st.w
	s.st.WatermarkWrites++
	hook := s.wmHook
	s.mu.Unlock()
	if hook != nil {
		hook(r.st)
	}
}

// shutdown is the end of Run: see Run.
func (s *Spool) shutdown(c *committer) error {
	s.mu.Lock()
	s.closed = true
	close(s.closedCh)
	s.room.Broadcast()
	s.mu.Unlock()

	if c.syncing != nil {
		if err := <-c.syncDone; err != nil {
			s.fail(err)
		}
		c.endSync()
	}
	if c.wmBusy {
		c.wmBusy = false
		s.wroteWatermark(c, <-c.wmDone)
	}
	s.commit(c)
	if err := s.syncDirty(c); err != nil {
		s.fail(err)
	}
	s.mu.Lock()
	failed := s.failed
	s.mu.Unlock()
	if failed == nil {
		s.reap(c, true)
		// If the newest segment is gone, leave an empty one named after the
		// next seq so that seqs keep increasing across the restart.
		s.mu.Lock()
		needSeed := s.active == nil && s.nextSeq > 1 && (len(s.segs) == 0 || s.segs[len(s.segs)-1].last() < s.nextSeq-1)
		seedExists := s.seed != nil
		next := s.nextSeq
		s.mu.Unlock()
		if needSeed && !seedExists {
			if err := writeSeed(s.cfg.Dir, next); err != nil {
				s.log.Warn("spool seq seed not written; seqs restart lower after the restart", zap.Error(err))
			}
		}
	}
	// The final watermark, with the out-of-order acks above W, so that a
	// restart replays no acked record. Written even after a write failure:
	// the acks are true either way.
	if st, ok := s.takeAckState(c, wmRangesFinal, true); ok {
		s.wroteWatermark(c, wmResult{st, writeWatermark(s.cfg.Dir, st)})
	}
	s.mu.Lock()
	s.closeFiles()
	s.mu.Unlock()
	return failed
}

// writeSeed writes an empty segment (header only) named after first.
func writeSeed(dir string, first uint64) error {
	path := segPath(dir, first)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create seed segment: %w", err)
	}
	if _, err := f.Write(appendHeader(nil, first)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}
