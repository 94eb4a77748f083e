package topics

// Most nodes hold one subscription and most clients hold a handful, so both
// lookups below scan a slice while it is short and build a map only past
// smallMax entries. A one-entry map costs about 250-400 bytes; this keeps
// an exact-filter subscription near half the memory it would otherwise
// take (see README).
const smallMax = 16

// indexOf returns the position in n.subs of the subscription with key k,
// or -1.
func (n *node) indexOf(k subKey) int {
	if n.pos != nil {
		if i, ok := n.pos[k]; ok {
			return i
		}
		return -1
	}
	for i := range n.subs {
		if n.subs[i].ClientID == k.clientID && n.subs[i].Filter == k.filter {
			return i
		}
	}
	return -1
}

// addSub appends s to n, indexing it when n has grown past smallMax.
func (n *node) addSub(s Sub) {
	n.subs = append(n.subs, s)
	switch {
	case n.pos != nil:
		n.pos[subKey{s.ClientID, s.Filter}] = len(n.subs) - 1
	case len(n.subs) > smallMax:
		n.pos = make(map[subKey]int, len(n.subs))
		for i := range n.subs {
			n.pos[subKey{n.subs[i].ClientID, n.subs[i].Filter}] = i
		}
	}
}

// removeSub deletes the subscription at i by moving the last one into its
// place.
func (n *node) removeSub(i int) {
	last := len(n.subs) - 1
	if n.pos != nil {
		delete(n.pos, subKey{n.subs[i].ClientID, n.subs[i].Filter})
	}
	if i != last {
		n.subs[i] = n.subs[last]
		if n.pos != nil {
			n.pos[subKey{n.subs[i].ClientID, n.subs[i].Filter}] = i
		}
	}
	n.subs[last] = Sub{} // drop the strings for the GC
	n.subs = n.subs[:last]
	switch {
	case len(n.subs) == 0:
		n.subs, n.pos = nil, nil
	case n.pos != nil && len(n.subs) <= smallMax/2:
		n.pos = nil // hysteresis: rebuilt only after growing past smallMax again
	}
}

// clientEntry is one subscription of a client: its filter as sent and the
// node holding it.
type clientEntry struct {
	filter string
	node   *node
}

// clientSubs is the set of one client's subscriptions, keyed by filter.
type clientSubs struct {
	list []clientEntry
	pos  map[string]int // filter -> index in list, past smallMax entries
}

func (c *clientSubs) indexOf(filter string) int {
	if c.pos != nil {
		if i, ok := c.pos[filter]; ok {
			return i
		}
		return -1
	}
	for i := range c.list {
		if c.list[i].filter == filter {
			return i
		}
	}
	return -1
}

func (c *clientSubs) add(filter string, n *node) {
	c.list = append(c.list, clientEntry{filter, n})
	switch {
	case c.pos != nil:
		c.pos[filter] = len(c.list) - 1
	case len(c.list) > smallMax:
		c.pos = make(map[string]int, len(c.list))
		for i := range c.list {
			c.pos[c.list[i].filter] = i
		}
	}
}

func (c *clientSubs) remove(i int) {
	last := len(c.list) - 1
	if c.pos != nil {
		delete(c.pos, c.list[i].filter)
	}
	if i != last {
		c.list[i] = c.list[last]
		if c.pos != nil {
			c.pos[c.list[i].filter] = i
		}
	}
	c.list[last] = clientEntry{}
	c.list = c.list[:last]
	if c.pos != nil && len(c.list) <= smallMax/2 {
		c.pos = nil
	}
}

// leveled is a trie node known to its parent by one topic level.
type leveled interface {
	comparable
	levelKey() string
}

func (n *node) levelKey() string     { return n.level }
func (n *rnode[T]) levelKey() string { return n.level }

// childSet holds a node's literal children: a slice scanned while there are
// at most smallMax of them, a map past that. Both tries use it.
type childSet[N leveled] struct {
	list    []N          // while there are at most smallMax children
	byLevel map[string]N // past that; list is then nil
}

func (s *childSet[N]) len() int { return len(s.list) + len(s.byLevel) }

// get returns the child for level, or the zero N (nil).
func (s *childSet[N]) get(level string) N {
	if s.byLevel != nil {
		return s.byLevel[level]
	}
	for _, c := range s.list {
		if c.levelKey() == level {
			return c
		}
	}
	var zero N
	return zero
}

// add links c, whose level is not yet a child.
func (s *childSet[N]) add(c N) {
	if s.byLevel != nil {
		s.byLevel[c.levelKey()] = c
		return
	}
	s.list = append(s.list, c)
	if len(s.list) > smallMax {
		s.byLevel = make(map[string]N, len(s.list))
		for _, k := range s.list {
			s.byLevel[k.levelKey()] = k
		}
		s.list = nil
	}
}

// remove unlinks c. A map of children stays a map until it is empty.
func (s *childSet[N]) remove(c N) {
	if s.byLevel != nil {
		delete(s.byLevel, c.levelKey())
		if len(s.byLevel) == 0 {
			s.byLevel = nil
		}
		return
	}
	var zero N
	for i, k := range s.list {
		if k == c {
			last := len(s.list) - 1
			s.list[i] = s.list[last]
			s.list[last] = zero
			s.list = s.list[:last]
			break
		}
	}
	if len(s.list) == 0 {
		s.list = nil
	}
}
