package auth

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
)

// passCache remembers, per (user name, stored bcrypt hash), a keyed SHA-256
// (HMAC-SHA256 with a random per-process key) of the password that last
// passed bcrypt. A reconnect storm then costs one HMAC per CONNECT instead of
// one bcrypt (about 50 ms of CPU at cost 10). The password itself is never
// stored, and the per-process key means a memory dump does not give an
// offline-crackable unsalted hash. Only successes are cached: a wrong
// password always pays for bcrypt. The cache is a bounded LRU.
type passCache struct {
	key [32]byte

	mu      sync.Mutex
	max     int
	entries map[cacheKey]*list.Element
	lru     list.List // front = most recently used; values are *cacheEntry
}

type cacheKey struct {
	username string
	hash     string // the stored bcrypt hash: a changed hash invalidates the entry
}

type cacheEntry struct {
	key cacheKey
	mac [sha256.Size]byte
}

// newPassCache returns a cache of at most max entries; max <= 0 disables it.
func newPassCache(max int) *passCache {
	c := &passCache{max: max, entries: make(map[cacheKey]*list.Element)}
	if _, err := rand.Read(c.key[:]); err != nil {
		// crypto/rand does not fail on supported platforms; without a key
		// the cache would still be correct, only weaker, so disable it.
		c.max = 0
	}
	return c
}

func (c *passCache) sum(password []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write(password)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// check reports whether password is the one that last succeeded for
// (username, hash).
func (c *passCache) check(username, hash string, password []byte) bool {
	if c.max <= 0 {
		return false
	}
	sum := c.sum(password)
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[cacheKey{username, hash}]
	if !ok {
		return false
	}
	e := el.Value.(*cacheEntry)
	if !hmac.Equal(e.mac[:], sum[:]) {
		return false
	}
	c.lru.MoveToFront(el)
	return true
}

// store records password as the last success for (username, hash).
func (c *passCache) store(username, hash string, password []byte) {
	if c.max <= 0 {
		return
	}
	sum := c.sum(password)
	k := cacheKey{username, hash}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		el.Value.(*cacheEntry).mac = sum
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.max {
		oldest := c.lru.Back()
		delete(c.entries, oldest.Value.(*cacheEntry).key)
		c.lru.Remove(oldest)
	}
	c.entries[k] = c.lru.PushFront(&cacheEntry{key: k, mac: sum})
}

// len returns the number of cached entries.
func (c *passCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
