package store

import (
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// committer groups concurrent writes into one bbolt transaction without a
// timer and without a goroutine of its own.
//
// A writer that finds no commit running becomes the leader: it takes every
// queued write (up to maxBatch), runs them in one db.Update (one fsync),
// wakes their callers and hands leadership to the first write that queued
// meanwhile. Writes that arrive during a commit therefore ride together in
// the next one: a lone writer pays one fsync and no delay, and under load
// the batch grows with the fsync time. bbolt's db.Batch instead waits
// MaxBatchDelay for company on every write, which caps a single connection
// at one write per delay (measured in README.md).
type committer struct {
	db       *bolt.DB
	maxBatch int

	mu      sync.Mutex
	queue   []*op
	leading bool // a leader is running or has been handed the lead
	pool    sync.Pool

	commits atomic.Int64 // committed transactions
}

type op struct {
	fn   func(*bolt.Tx) error
	err  error
	lead bool          // woken to lead the next commit rather than done
	wake chan struct{} // buffered 1
}

func (c *committer) getOp(fn func(*bolt.Tx) error) *op {
	o, ok := c.pool.Get().(*op)
	if !ok {
		o = &op{wake: make(chan struct{}, 1)}
	}
	o.fn, o.err, o.lead = fn, nil, false
	return o
}

// do runs fn in a group-committed transaction and returns after the commit.
// fn may run more than once: when one write of a batch fails, the
// transaction is rolled back and the others are run again without it.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	o := c.getOp(fn)
	c.mu.Lock()
	c.queue = append(c.queue, o)
	if c.leading {
		c.mu.Unlock()
		<-o.wake
		if !o.lead {
			err := o.err
			o.fn = nil
			c.pool.Put(o)
			return err
		}
		c.mu.Lock()
	}
	// This write leads; it is queue[0].
	c.leading = true
	n := min(len(c.queue), c.maxBatch)
	batch := c.queue[:n:n]
	c.queue = append([]*op(nil), c.queue[n:]...)
	c.mu.Unlock()

	c.run(batch, o)

	c.mu.Lock()
	if len(c.queue) > 0 {
		next := c.queue[0]
		next.lead = true
		next.wake <- struct{}{}
	} else {
		c.leading = false
	}
	c.mu.Unlock()
	err := o.err
	o.fn = nil
	c.pool.Put(o)
	return err
}

// run commits batch, setting each op's err and waking every op but self.
func (c *committer) run(batch []*op, self *op) {
	done := func(o *op, err error) {
		o.err = err
		if o != self {
			o.wake <- struct{}{}
		}
	}
	for len(batch) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, o := range batch {
				if err := o.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			// Roll back, fail that write alone, retry the rest.
			done(batch[failed], err)
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		if err == nil {
			c.commits.Add(1)
		}
		for _, o := range batch {
			done(o, err)
		}
		return
	}
}
