package kafka

import "sync"

// offsetTracker follows the records of one partition that were handed to
// the handler, in offset order, and yields the confirmed prefix: the offset
// below which every record is done. Like the MQTT pending-ack ring, records
// may complete out of order, but the commit point only moves over an
// unbroken run of completions. Offsets may have gaps (compaction,
// transaction markers). Safe for concurrent use.
type offsetTracker struct {
	mu   sync.Mutex
	offs []int64 // handed-out offsets, ascending, from head on
	done []bool
	head int
	next int64 // commit point: every handed-out offset below it is done; -1 before the first add
}

func newOffsetTracker() *offsetTracker { return &offsetTracker{next: -1} }

// add records that offset off (greater than any added before) was handed out.
func (t *offsetTracker) add(off int64) {
	t.mu.Lock()
	if t.next < 0 {
		t.next = off
	}
	if t.head > 0 && t.head >= len(t.offs)/2 {
		n := copy(t.offs, t.offs[t.head:])
		copy(t.done, t.done[t.head:])
		t.offs, t.done, t.head = t.offs[:n], t.done[:n], 0
	}
	t.offs = append(t.offs, off)
	t.done = append(t.done, false)
	t.mu.Unlock()
}

// complete marks off done and reports the new commit point if it moved.
func (t *offsetTracker) complete(off int64) (next int64, moved bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.index(off)
	if i < 0 {
		return t.next, false
	}
	t.done[i] = true
	for t.head < len(t.offs) && t.done[t.head] {
		t.next = t.offs[t.head] + 1
		t.head++
		moved = true
	}
	return t.next, moved
}

// index finds off among the outstanding offsets (binary search).
func (t *offsetTracker) index(off int64) int {
	lo, hi := t.head, len(t.offs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if t.offs[mid] < off {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(t.offs) && t.offs[lo] == off {
		return lo
	}
	return -1
}

// outstanding is the number of handed-out records not yet in the prefix.
func (t *offsetTracker) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.offs) - t.head
}

// commitPoint is the offset to commit (-1 if nothing was added yet).
func (t *offsetTracker) commitPoint() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next
}
