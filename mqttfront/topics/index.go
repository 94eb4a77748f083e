package topics

import "sync"

// Sub is one subscription as stored in the index.
type Sub struct {
	ClientID          string
	Filter            string // as the client sent it, including any "$share/{group}/" prefix; (ClientID, Filter) is the key
	Group             string // share group name, "" when not a shared subscription
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	ID                uint32 // v5 subscription identifier, 0 = none
}

// subKey identifies a subscription inside one trie node. All subscriptions
// in a node share the inner filter, so the full filter (which differs only
// by the share group) and the client id make the key.
type subKey struct {
	clientID string
	filter   string
}

// node is one level of the subscription trie. The wildcard children are
// kept out of the map so Match reaches them without a lookup.
type node struct {
	parent *node
	level  string          // this node's key in parent
	kids   childSet[*node] // literal children (small.go)
	plus   *node           // child for "+"
	hash   *node           // child for "#"
	subs   []Sub
	pos    map[subKey]int // index into subs, only past smallMax entries (small.go)
}

func (n *node) empty() bool {
	return len(n.subs) == 0 && n.kids.len() == 0 && n.plus == nil && n.hash == nil
}

// Index is the subscription index: a trie keyed by filter levels, plus a
// per-client table for RemoveClient and ClientSubs. It is safe for
// concurrent use; Match takes only the read lock.
type Index struct {
	mu      sync.RWMutex
	root    node
	clients map[string]*clientSubs // client id -> its subscriptions (filter as sent -> node)
	count   int
	nodes   int // nodes other than root, for tests of pruning
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{clients: make(map[string]*clientSubs)}
}

// Add stores s, replacing an existing subscription with the same
// (ClientID, Filter) [MQTT-3.8.4-3]. Group is derived from Filter: a
// "$share/{group}/{filter}" subscription is stored under its inner filter
// with Group set [MQTT-4.8.2-1]; otherwise Group is cleared.
func (ix *Index) Add(s Sub) (replaced bool) {
	group, inner, ok := splitShared(s.Filter)
	if ok {
		s.Group = group
	} else {
		s.Group = ""
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	cs := ix.clients[s.ClientID]
	if cs == nil {
		cs = &clientSubs{}
		ix.clients[s.ClientID] = cs
	} else if i := cs.indexOf(s.Filter); i >= 0 {
		n := cs.list[i].node
		n.subs[n.indexOf(subKey{s.ClientID, s.Filter})] = s
		return true
	}
	n := ix.walkCreate(inner)
	n.addSub(s)
	cs.add(s.Filter, n)
	ix.count++
	return false
}

// walkCreate returns the node for filter, creating missing levels.
func (ix *Index) walkCreate(filter string) *node {
	n := &ix.root
	rest := filter
	for {
		level, r, more := nextLevel(rest)
		var child *node
		switch level {
		case "+":
			if n.plus == nil {
				n.plus = &node{parent: n, level: level}
				ix.nodes++
			}
			child = n.plus
		case "#":
			if n.hash == nil {
				n.hash = &node{parent: n, level: level}
				ix.nodes++
			}
			child = n.hash
		default:
			child = n.kids.get(level)
			if child == nil {
				child = &node{parent: n, level: level}
				n.kids.add(child)
				ix.nodes++
			}
		}
		n = child
		if !more {
			return n
		}
		rest = r
	}
}

// Remove deletes the subscription of clientID to filter (as sent, with the
// $share prefix when shared) and reports whether it existed. Nodes left
// empty are pruned.
func (ix *Index) Remove(clientID, filter string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	cs := ix.clients[clientID]
	if cs == nil {
		return false
	}
	i := cs.indexOf(filter)
	if i < 0 {
		return false
	}
	n := cs.list[i].node
	cs.remove(i)
	if len(cs.list) == 0 {
		delete(ix.clients, clientID)
	}
	ix.removeFromNode(n, subKey{clientID, filter})
	return true
}

// RemoveClient deletes every subscription of clientID and returns how many
// there were.
func (ix *Index) RemoveClient(clientID string) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	cs := ix.clients[clientID]
	if cs == nil {
		return 0
	}
	for _, e := range cs.list {
		ix.removeFromNode(e.node, subKey{clientID, e.filter})
	}
	delete(ix.clients, clientID)
	return len(cs.list)
}

// removeFromNode deletes key from n and prunes
// n and its ancestors while they are empty. Callers hold the write lock.
func (ix *Index) removeFromNode(n *node, key subKey) {
	n.removeSub(n.indexOf(key))
	ix.count--
	for n != &ix.root && n.empty() {
		p := n.parent
		switch {
		case p.plus == n:
			p.plus = nil
		case p.hash == n:
			p.hash = nil
		default:
			p.kids.remove(n)
		}
		n.parent = nil
		ix.nodes--
		n = p
	}
}

// Match appends to dst every subscription whose filter matches topic and
// returns the extended slice. Shared subscriptions (Group != "") are
// included, matched by their inner filter; each subscription is one entry
// (no aggregation per client). Beyond growing dst it does not allocate, so
// callers should pass a reused dst[:0].
func (ix *Index) Match(topic string, dst []Sub) []Sub {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	// [MQTT-4.7.2-1] topics starting with '$' are not matched by a first
	// level wildcard, shared subscriptions' inner filters included.
	dollar := len(topic) > 0 && topic[0] == '$'
	return ix.root.match(topic, !dollar, dst)
}

// match matches the remaining topic levels below n. wild is false only at
// the root for a '$' topic, where wildcard children are skipped.
func (n *node) match(topic string, wild bool, dst []Sub) []Sub {
	level, rest, more := nextLevel(topic)
	if wild {
		// "#" matches this level and everything below it. [MQTT-4.7.1-2]
		if n.hash != nil {
			dst = append(dst, n.hash.subs...)
		}
		if p := n.plus; p != nil {
			dst = p.matchChild(rest, more, dst)
		}
	}
	if c := n.kids.get(level); c != nil {
		dst = c.matchChild(rest, more, dst)
	}
	return dst
}

// matchChild continues matching at n, which matched one topic level.
func (n *node) matchChild(rest string, more bool, dst []Sub) []Sub {
	if more {
		return n.match(rest, true, dst)
	}
	// The topic ends here: n's own subscriptions match, and so does a "#"
	// child, because "#" also matches its parent level. [MQTT-4.7.1-2]
	dst = append(dst, n.subs...)
	if n.hash != nil {
		dst = append(dst, n.hash.subs...)
	}
	return dst
}

// ClientSubs returns a copy of every subscription of clientID, in no
// particular order.
func (ix *Index) ClientSubs(clientID string) []Sub {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	cs := ix.clients[clientID]
	if cs == nil {
		return nil
	}
	out := make([]Sub, 0, len(cs.list))
	for _, e := range cs.list {
		out = append(out, e.node.subs[e.node.indexOf(subKey{clientID, e.filter})])
	}
	return out
}

// ClientLen returns the number of subscriptions of clientID and whether
// filter (as sent, "$share/..." included) is one of them.
func (ix *Index) ClientLen(clientID, filter string) (n int, has bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	cs := ix.clients[clientID]
	if cs == nil {
		return 0, false
	}
	return len(cs.list), cs.indexOf(filter) >= 0
}

// Len returns the number of subscriptions.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.count
}

// nodeCount returns the number of trie nodes besides the root.
func (ix *Index) nodeCount() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.nodes
}

// Walk calls fn for every subscription until fn returns false. It works on
// a snapshot taken under the read lock, so fn may call back into the index.
func (ix *Index) Walk(fn func(Sub) bool) {
	ix.mu.RLock()
	all := make([]Sub, 0, ix.count)
	for clientID, cs := range ix.clients {
		for _, e := range cs.list {
			all = append(all, e.node.subs[e.node.indexOf(subKey{clientID, e.filter})])
		}
	}
	ix.mu.RUnlock()
	for _, s := range all {
		if !fn(s) {
			return
		}
	}
}
