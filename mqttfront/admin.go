package mqttfront

import (
	"encoding/base64"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// Read-only snapshots and the kick action for the admin API. Each takes
// Server.mu (read) only to copy the session pointers, then each session's
// mu on its own, so the lock order Server.mu → session.mu holds and no
// snapshot blocks the data path for longer than one session's copy.

// ClientInfo is a snapshot of one session, online or not.
type ClientInfo struct {
	ClientID        string    `json:"client_id"`
	Username        string    `json:"username"`
	ProtocolVersion int       `json:"protocol_version"` // 3 (3.1), 4 (3.1.1) or 5
	RemoteAddr      string    `json:"remote_addr"`      // "" while offline
	Listener        string    `json:"listener"`         // tcp, tls, ws or wss; "" while offline
	ConnectedSince  time.Time `json:"connected_since"`  // when the connection was accepted; zero while offline
	DisconnectedAt  time.Time `json:"disconnected_at"`  // zero while online
	Online          bool      `json:"online"`
	Subscriptions   int       `json:"subscriptions"`
	Inflight        int       `json:"inflight"` // outbound QoS 1/2 sent, awaiting ack
	Queued          int       `json:"queued"`   // outbound QoS 1/2 waiting for the window or a connection
}

// RetainedInfo describes one retained message.
type RetainedInfo struct {
	Topic       string    `json:"topic"`
	QoS         byte      `json:"qos"`
	PayloadSize int       `json:"payload_size"`
	Preview     string    `json:"preview"` // the first bytes: text when UTF-8, else base64
	Binary      bool      `json:"binary"`  // Preview is base64
	StoredAt    time.Time `json:"stored_at"`
}

// previewBytes bounds RetainedInfo.Preview (before base64).
const previewBytes = 64

func (s *Server) sessionList() []*session {
	s.mu.RLock()
	out := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, ss)
	}
	s.mu.RUnlock()
	return out
}

func (s *Server) clientInfo(ss *session) ClientInfo {
	ss.mu.Lock()
	ci := ClientInfo{
		ClientID:        ss.id,
		Username:        ss.username,
		ProtocolVersion: int(ss.version),
		DisconnectedAt:  ss.disconnectedAt,
		Inflight:        len(ss.inflight),
		Queued:          len(ss.queue),
	}
	if c := ss.conn; c != nil {
		ci.Online = true
		ci.RemoteAddr = c.nc.RemoteAddr().String()
		ci.Listener = c.listener
		ci.ConnectedSince = c.since
	}
	ss.mu.Unlock()
	ci.Subscriptions = len(s.index.ClientSubs(ci.ClientID))
	return ci
}

// Clients returns every session, online or offline, sorted by client id.
func (s *Server) Clients() []ClientInfo {
	list := s.sessionList()
	out := make([]ClientInfo, 0, len(list))
	for _, ss := range list {
		out = append(out, s.clientInfo(ss))
	}
	slices.SortFunc(out, func(a, b ClientInfo) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}

// Client returns the session of id and its subscriptions (sorted by
// filter); ok is false when no session has that id.
func (s *Server) Client(id string) (ClientInfo, []Subscription, bool) {
	s.mu.RLock()
	ss := s.sessions[id]
	s.mu.RUnlock()
	if ss == nil {
		return ClientInfo{}, nil, false
	}
	ci := s.clientInfo(ss)
	subs := s.index.ClientSubs(id)
	slices.SortFunc(subs, func(a, b topics.Sub) int { return strings.Compare(a.Filter, b.Filter) })
	ci.Subscriptions = len(subs)
	return ci, subscriptions(subs), true
}

// Subscription is one subscription of a session, as the admin snapshots
// give it.
type Subscription struct {
	ClientID          string
	Filter            string // as the client sent it, including any "$share/{group}/" prefix
	Group             string // share group name, "" when not a shared subscription
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	ID                uint32 // v5 subscription identifier, 0 = none
}

// subscriptions converts the trie's subscriptions.
func subscriptions(subs []topics.Sub) []Subscription {
	if subs == nil {
		return nil
	}
	out := make([]Subscription, len(subs))
	for i, sub := range subs {
		out[i] = Subscription(sub)
	}
	return out
}

// KickReasonCode is the reason code of the DISCONNECT Kick sends a v5
// client: 0x98 Administrative action.
const KickReasonCode = byte(packets.AdministrativeAction)

// Kick disconnects the client id with reason admin_kick: a v5 client gets
// DISCONNECT 0x98 (Administrative action), a v3 client's socket is closed.
// The session stays (its expiry decides), and the will is published as on
// any server-side disconnect. It reports whether the client was connected,
// and returns once the connection has finished its cleanup (or after
// kickWait), so a caller that asks again sees the client gone.
func (s *Server) Kick(id string) bool {
	s.mu.RLock()
	ss := s.sessions[id]
	s.mu.RUnlock()
	if ss == nil {
		return false
	}
	ss.mu.Lock()
	c := ss.conn
	ss.mu.Unlock()
	if c == nil {
		return false
	}
	if DisconnectReason(c.reason.Load()) != ReasonNone {
		return false // already on its way out
	}
	c.kick(ReasonAdminKick, packets.AdministrativeAction)
	t := time.NewTimer(kickWait)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
	return true
}

// kickWait bounds how long Kick waits for a kicked connection to finish.
const kickWait = 5 * time.Second

// Subscriptions returns the subscriptions selected by match, sorted by
// client id then filter. match "" selects all. Otherwise a subscription is
// selected when its filter or client id contains match as a substring, or
// when match is a topic name its filter matches (so "devices/d1/cmd"
// finds "devices/+/cmd" and "#").
func (s *Server) Subscriptions(match string) []Subscription {
	var out []topics.Sub
	topicMatch := match != "" && packets.ValidTopicName(match) == nil
	s.index.Walk(func(sub topics.Sub) bool {
		if match == "" || strings.Contains(sub.Filter, match) || strings.Contains(sub.ClientID, match) {
			out = append(out, sub)
			return true
		}
		if topicMatch {
			_, inner, _ := topics.SplitShared(sub.Filter)
			if topics.Matches(inner, match) {
				out = append(out, sub)
			}
		}
		return true
	})
	slices.SortFunc(out, func(a, b topics.Sub) int {
		if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
			return c
		}
		return strings.Compare(a.Filter, b.Filter)
	})
	return subscriptions(out)
}

// RetainedMessages returns at most limit retained messages (limit <= 0:
// all), sorted by topic. match "" selects all, $SYS included; a match with a
// wildcard ('+' or '#') is an MQTT topic filter; anything else selects the
// topics that contain it as a substring.
func (s *Server) RetainedMessages(match string, limit int) []RetainedInfo {
	var out []RetainedInfo
	collect := func(topic string, m *Message) bool {
		out = append(out, retainedInfo(topic, m))
		return true
	}
	if strings.ContainsAny(match, "+#") {
		if packets.ValidTopicFilter(match) == nil {
			s.retained.Match(match, collect)
		}
	} else {
		sub := func(topic string, m *Message) bool {
			if strings.Contains(topic, match) {
				out = append(out, retainedInfo(topic, m))
			}
			return true
		}
		// '#' does not match topics starting with '$' [MQTT-4.7.2-1].
		s.retained.Match("#", sub)
		s.retained.Match("$SYS/#", sub)
	}
	slices.SortFunc(out, func(a, b RetainedInfo) int { return strings.Compare(a.Topic, b.Topic) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func retainedInfo(topic string, m *Message) RetainedInfo {
	ri := RetainedInfo{Topic: topic, QoS: m.QoS, PayloadSize: len(m.Payload), StoredAt: m.ReceivedAt}
	p := m.Payload
	if len(p) > previewBytes {
		p = p[:previewBytes]
		// Cut at a rune boundary so valid text stays valid.
		for i := 0; i < utf8.UTFMax && len(p) > 0 && !utf8.Valid(p); i++ {
			p = p[:len(p)-1]
		}
	}
	if utf8.Valid(p) {
		ri.Preview = string(p)
	} else {
		ri.Binary = true
		ri.Preview = base64.StdEncoding.EncodeToString(p)
	}
	return ri
}
