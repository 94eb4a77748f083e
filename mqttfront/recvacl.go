package mqttfront

import (
	"strings"

	"go.uber.org/zap"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/auth"
)

// The per-delivery ACL check. A SUBSCRIBE is refused only for a filter
// that lies wholly inside a deny; a granted wildcard (#, +/#, $share/g/#)
// can still match topics the client must not read. So, as Mosquitto does,
// every message is checked again against its topic name before it is
// handed to a session (live, retained on subscribe, will, Publish), when a
// queued message enters the window, and when the window is resent on
// reconnect (rules may have been reloaded since the message was queued).
//
// Decisions are cached per session in recvCache, bounded by
// acl_cache_max_entries and acl_cache_max_bytes, and tagged with the
// authPair they came from: SetAuth (a reload) installs a new pair, and each
// cache empties itself at its next check.

// recvEntryOverhead is what one cached decision costs besides its topic
// bytes: the map slot (string header, bool, hash bits) and the allocation
// of the cloned key, rounded up.
const recvEntryOverhead = 48

// recvCache holds one session's delivery decisions. Guarded by session.mu.
type recvCache struct {
	gen   *authPair       // the rules the decisions came from
	m     map[string]bool // topic name -> allowed
	bytes int             // sum of len(topic) + recvEntryOverhead
}

// reset forgets every decision and releases the map.
func (rc *recvCache) reset(gen *authPair) {
	rc.gen, rc.m, rc.bytes = gen, nil, 0
}

// put records a decision, evicting random entries to stay within
// maxEntries and maxBytes. A topic that alone exceeds maxBytes is not
// cached. The key is a copy: topic may point into a packet buffer.
func (rc *recvCache) put(topic string, ok bool, maxEntries, maxBytes int) {
	cost := len(topic) + recvEntryOverhead
	if maxEntries <= 0 || cost > maxBytes {
		return
	}
	for k := range rc.m { // map iteration starts at a random entry
		if len(rc.m) < maxEntries && rc.bytes+cost <= maxBytes {
			break
		}
		delete(rc.m, k)
		rc.bytes -= len(k) + recvEntryOverhead
	}
	if rc.m == nil {
		rc.m = make(map[string]bool)
	}
	rc.m[strings.Clone(topic)] = ok
	rc.bytes += cost
}

// mayReceiveLocked reports whether the session's client may be sent a
// message on topic. Called with ss.mu held.
func (ss *session) mayReceiveLocked(s *Server, topic string) bool {
	p := s.authz.Load()
	rc := &ss.recv
	if rc.gen != p {
		rc.reset(p) // the rules were reloaded: decisions may have changed
	}
	if p.open {
		return true
	}
	if ok, hit := rc.m[topic]; hit {
		return ok
	}
	ok := p.acl.Allow(auth.ActionReceive, ss.username, ss.id, topic)
	rc.put(topic, ok, s.cfg.ACLCacheMaxEntries, s.cfg.ACLCacheMaxBytes)
	return ok
}

// mayReceive is mayReceiveLocked taking ss.mu.
func (ss *session) mayReceive(s *Server, topic string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.mayReceiveLocked(s, topic)
}

// deliveryDenied counts and logs (rate-limited per client) a delivery the
// ACL refused. It may be called with ss.mu held: it takes only the log
// limiter's lock, a leaf.
func (s *Server) deliveryDenied(clientID, username, topic string) {
	s.stats.drop(DropDeliveryNotAuthorized)
	s.logKeyed(zap.InfoLevel, clientID, "mqtt: delivery not authorized; message dropped",
		zap.String("client", clientID), zap.String("username", username), zap.String("topic", topic),
		zap.Stringer("reason", DropDeliveryNotAuthorized))
}
