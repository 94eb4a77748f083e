package mqttfront

// Inbox batches: consecutive copies read from one inbox partition,
// delivered under one hold of the inbox lock and written to the store in
// one transaction with the last mark, so that a replica applying its inbox
// pays one commit per batch, not per copy (README.md, "Cluster routing").

// InboxBatch delivers copies as DeliverTargets does with a mark, but
// writes their queued messages and marks only at Commit, in one store
// transaction. It holds the inbox lock (Deliver, Import and TakeHeld wait)
// from BeginInbox until Commit; the caller holds the route view
// (HoldRoutes) across the whole batch and commits before releasing it.
// Not safe for concurrent use.
type InboxBatch struct {
	s      *Server
	w      copyWrites
	copies int // copies delivered since the last Commit
	done   bool
}

// BeginInbox takes the inbox lock for a batch. It returns ErrServerClosed
// once the server is closing (no lock is then held).
func (s *Server) BeginInbox() (*InboxBatch, error) {
	if s.closing.Load() || !s.runOnce.Load() {
		return nil, ErrServerClosed
	}
	s.inboxMu.Lock()
	if err := s.loadMarksLocked(); err != nil {
		s.inboxMu.Unlock()
		return nil, err
	}
	return &InboxBatch{s: s}, nil
}

// Deliver hands one copy to the sessions and groups in to, in memory (a
// copy whose mark is not above the highest seen for its name delivers
// nothing), and returns what this replica could not take, as
// DeliverTargets. Its messages for persistent sessions are durable only
// once Commit returned nil. The only error is ErrServerClosed (nothing of
// this copy was delivered; Commit still writes the earlier ones).
func (b *InboxBatch) Deliver(m *Message, from string, to Targets, mark InboxMark) (missing Targets, err error) {
	if b.s.closing.Load() {
		return Targets{}, ErrServerClosed
	}
	b.copies++
	return b.s.deliverCopy(m, from, to, mark, &b.w), nil
}

// Copies is the number of copies delivered in the batch.
func (b *InboxBatch) Copies() int { return b.copies }

// Commit writes the batch's queued messages with the highest mark of
// each name in one store transaction and releases the inbox lock. An
// error is a store failure: the messages stay queued in memory only and
// the marks moved on in memory (a re-read does not queue them twice).
func (b *InboxBatch) Commit() error {
	if b.done {
		return nil
	}
	b.done = true
	defer b.s.inboxMu.Unlock()
	return b.s.writeCopies(&b.w)
}
