package topics

import "sync"

// rnode is one level of the retained trie. A node holds a value when a
// message is retained on exactly the topic that ends at it.
type rnode[T any] struct {
	parent *rnode[T]
	level  string
	kids   childSet[*rnode[T]] // children (small.go)
	topic  string              // full topic, set while has is true
	val    T
	has    bool
}

// Retained is the retained-message index: a trie keyed by topic levels, one
// value per topic name. It is safe for concurrent use.
type Retained[T any] struct {
	mu    sync.RWMutex
	root  rnode[T]
	count int
	nodes int // nodes other than root, for tests of pruning
	hits  sync.Pool
}

// hit is one Match result, collected under the lock and handed to the
// callback after it is released.
type hit[T any] struct {
	topic string
	val   T
}

// NewRetained returns an empty retained index.
func NewRetained[T any]() *Retained[T] {
	return &Retained[T]{}
}

// Set stores v as the retained value for topic (a topic name, no
// wildcards) and reports whether the topic had none before.
func (r *Retained[T]) Set(topic string, v T) (isNew bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &r.root
	rest := topic
	for {
		level, rr, more := nextLevel(rest)
		c := n.kids.get(level)
		if c == nil {
			c = &rnode[T]{parent: n, level: level}
			n.kids.add(c)
			r.nodes++
		}
		n = c
		if !more {
			break
		}
		rest = rr
	}
	isNew = !n.has
	n.topic, n.val, n.has = topic, v, true
	if isNew {
		r.count++
	}
	return isNew
}

// find returns the node for topic, or nil.
func (r *Retained[T]) find(topic string) *rnode[T] {
	n := &r.root
	rest := topic
	for {
		level, rr, more := nextLevel(rest)
		n = n.kids.get(level)
		if n == nil || !more {
			return n
		}
		rest = rr
	}
}

// Get returns the retained value for topic.
func (r *Retained[T]) Get(topic string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if n := r.find(topic); n != nil && n.has {
		return n.val, true
	}
	var zero T
	return zero, false
}

// Delete removes the retained value for topic, pruning nodes left empty,
// and reports whether there was one.
func (r *Retained[T]) Delete(topic string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.find(topic)
	if n == nil || !n.has {
		return false
	}
	var zero T
	n.topic, n.val, n.has = "", zero, false
	r.count--
	for n != &r.root && !n.has && n.kids.len() == 0 {
		p := n.parent
		p.kids.remove(n)
		n.parent = nil
		r.nodes--
		n = p
	}
	return true
}

// Len returns the number of retained topics.
func (r *Retained[T]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.count
}

// nodeCount returns the number of trie nodes besides the root.
func (r *Retained[T]) nodeCount() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.nodes
}

// Match calls fn for every retained topic matched by filter until fn
// returns false. The filter may hold '+' and '#'; a "$share/{group}/"
// prefix is stripped (whether a new shared subscription gets retained
// messages at all is the broker's decision; MQTT 5 §4.8.2 says it does
// not). Topics starting with '$' are not matched by a filter whose first
// level is '+' or '#' [MQTT-4.7.2-1].
//
// The matches are collected under the read lock and fn runs after it is
// released, so fn may call Set or Delete; it sees a consistent snapshot.
// The order is unspecified.
func (r *Retained[T]) Match(filter string, fn func(topic string, v T) bool) {
	if _, inner, ok := splitShared(filter); ok {
		filter = inner
	}
	p, _ := r.hits.Get().(*[]hit[T])
	if p == nil {
		p = new([]hit[T])
	}
	r.mu.RLock()
	hits := r.root.match(filter, true, (*p)[:0])
	r.mu.RUnlock()
	stopped := false
	for i := range hits {
		if !stopped && !fn(hits[i].topic, hits[i].val) {
			stopped = true
		}
		hits[i] = hit[T]{} // do not keep values alive in the pool
	}
	if cap(hits) <= 4096 { // the buffer of a "#" over a huge tree is not worth keeping
		*p = hits[:0]
		r.hits.Put(p)
	}
}

// match appends the values below n matched by the remaining filter levels.
// root is true at the top level, where the '$' rule applies.
func (n *rnode[T]) match(filter string, root bool, dst []hit[T]) []hit[T] {
	level, rest, more := nextLevel(filter)
	switch level {
	case "#":
		// "#" matches the parent level and everything below. [MQTT-4.7.1-2]
		if n.has && !root {
			dst = append(dst, hit[T]{n.topic, n.val})
		}
		for _, c := range n.kids.list {
			if !(root && dollar(c.level)) { // [MQTT-4.7.2-1]
				dst = c.all(dst)
			}
		}
		for _, c := range n.kids.byLevel {
			if !(root && dollar(c.level)) {
				dst = c.all(dst)
			}
		}
	case "+":
		for _, c := range n.kids.list {
			if !(root && dollar(c.level)) { // [MQTT-4.7.2-1]
				dst = c.matchChild(rest, more, dst)
			}
		}
		for _, c := range n.kids.byLevel {
			if !(root && dollar(c.level)) {
				dst = c.matchChild(rest, more, dst)
			}
		}
	default:
		if c := n.kids.get(level); c != nil {
			dst = c.matchChild(rest, more, dst)
		}
	}
	return dst
}

// matchChild continues at n, which matched one filter level.
func (n *rnode[T]) matchChild(rest string, more bool, dst []hit[T]) []hit[T] {
	if !more {
		if n.has {
			dst = append(dst, hit[T]{n.topic, n.val})
		}
		return dst
	}
	return n.match(rest, false, dst)
}

// all appends n's value and every value below it.
func (n *rnode[T]) all(dst []hit[T]) []hit[T] {
	if n.has {
		dst = append(dst, hit[T]{n.topic, n.val})
	}
	for _, c := range n.kids.list {
		dst = c.all(dst)
	}
	if n.kids.byLevel == nil {
		return dst // most nodes are leaves; skip the map iterator set-up
	}
	for _, c := range n.kids.byLevel {
		dst = c.all(dst)
	}
	return dst
}

// dollar reports whether a topic level starts with '$'.
func dollar(level string) bool { return len(level) > 0 && level[0] == '$' }
