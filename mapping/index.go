package mapping

import "math"

// noRule is a rule index larger than any real one.
const noRule = math.MaxInt32

// node is one level of the uplink rule trie. Every filter is inserted level
// by level; a rule's index is stored where its filter ends ('end') or, for a
// filter ending in '#', on the node of the level before the '#' ('hash').
// Matching walks every branch the topic can take and keeps the smallest rule
// index, so first-match-wins order holds exactly as in a linear scan, while
// minSub prunes any subtree that cannot beat the best match found so far.
type node struct {
	// Literal children: most nodes below the first level have exactly one,
	// kept in oneKey/one to spare a map lookup; lit holds them once there
	// are two or more.
	oneKey string
	one    *node
	lit    map[string]*node
	plus   *node // '+' and named captures
	end    int32 // smallest rule whose filter ends at this node
	hash   int32 // smallest rule whose filter is this node's path + "/#"
	minSub int32 // smallest rule anywhere in this subtree (end, hash included)
}

func newNode() *node { return &node{end: noRule, hash: noRule, minSub: noRule} }

// buildIndex inserts every rule's filter into a fresh trie.
func buildIndex(rules []uplinkRule) *node {
	root := newNode()
	for i := range rules {
		idx := int32(i)
		n := root
		n.minSub = min(n.minSub, idx)
		for _, l := range rules[i].filter.levels {
			if l.kind == levelHash {
				n.hash = min(n.hash, idx)
				break
			}
			var child *node
			if l.kind == levelPlus {
				if n.plus == nil {
					n.plus = newNode()
				}
				child = n.plus
			} else {
				child = n.literal(l.text)
				if child == nil {
					child = newNode()
					n.addLiteral(l.text, child)
				}
			}
			n = child
			n.minSub = min(n.minSub, idx)
		}
		if l := rules[i].filter.levels; l[len(l)-1].kind != levelHash {
			n.end = min(n.end, idx)
		}
	}
	return root
}

// literal returns the child for a literal level, or nil.
func (n *node) literal(level string) *node {
	if n.lit != nil {
		return n.lit[level]
	}
	if n.one != nil && n.oneKey == level {
		return n.one
	}
	return nil
}

// addLiteral adds a child for a literal level that has none yet.
func (n *node) addLiteral(level string, child *node) {
	switch {
	case n.lit != nil:
		n.lit[level] = child
	case n.one == nil:
		n.oneKey, n.one = level, child
	default:
		n.lit = map[string]*node{n.oneKey: n.one, level: child}
		n.oneKey, n.one = "", nil
	}
}

// match returns the index of the first rule whose filter matches topic, or -1.
// It allocates nothing.
func (n *node) match(topic string) int {
	// A topic starting with '$' is not matched by a filter whose first level
	// is a wildcard. [MQTT-4.7.2-1]
	dollar := len(topic) > 0 && topic[0] == '$'
	best := int32(noRule)
	if !dollar && n.hash < best {
		best = n.hash
	}
	level, next := nextLevel(topic, 0) // every topic has a first level, if empty
	if c := n.literal(level); c != nil {
		best = c.walk(topic, next, best)
	}
	if n.plus != nil && !dollar {
		best = n.plus.walk(topic, next, best)
	}
	if best == noRule {
		return -1
	}
	return int(best)
}

// walk continues a match at the level starting at pos (len(topic)+1 when
// every level has been consumed) and returns the better of best and any match
// below n.
func (n *node) walk(topic string, pos int, best int32) int32 {
	if n.minSub >= best {
		return best
	}
	if n.hash < best { // '#' matches the parent level too [MQTT-4.7.1-1]
		best = n.hash
	}
	if pos > len(topic) {
		return min(best, n.end)
	}
	level, next := nextLevel(topic, pos)
	if c := n.literal(level); c != nil {
		best = c.walk(topic, next, best)
	}
	if n.plus != nil {
		best = n.plus.walk(topic, next, best)
	}
	return best
}
