package mqttfront

import (
	"math"
	"strconv"
	"time"
)

// Version is reported in $SYS/broker/version.
const Version = "mqtt-kafka-bridge mqttfront 0.1"

// sysState keeps the previous counter values for the $SYS load averages.
type sysState struct {
	last  time.Time
	prev  [5]uint64     // msgs recv, msgs sent, bytes recv, bytes sent, connections
	loads [5][3]float64 // 1, 5, 15 minute moving averages per minute
}

// publishSys publishes the Mosquitto-compatible $SYS topics as retained
// messages (not persisted, not sent to the Sink).
func (s *Server) publishSys(now time.Time) {
	st := &s.stats
	var recv, sent uint64
	for i := range 3 {
		recv += st.msgIn[i].Load()
		sent += st.msgOut[i].Load()
	}
	var pktIn, pktOut uint64
	for i := range st.pktIn {
		pktIn += st.pktIn[i].Load()
		pktOut += st.pktOut[i].Load()
	}
	var dropped uint64
	for i := range st.drops {
		dropped += st.drops[i].Load()
	}
	cur := [5]uint64{recv, sent, st.bytesIn.Load(), st.bytesOut.Load(), st.connsTotal.Load()}
	sy := &s.sys
	if !sy.last.IsZero() {
		dt := now.Sub(sy.last).Seconds()
		for i := range cur {
			perMin := float64(cur[i]-sy.prev[i]) / dt * 60
			for j, win := range []float64{60, 300, 900} {
				a := math.Exp(-dt / win)
				sy.loads[i][j] = sy.loads[i][j]*a + perMin*(1-a)
			}
		}
	}
	sy.prev, sy.last = cur, now
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
	kv := [][2]string{
		{"$SYS/broker/version", Version},
		{"$SYS/broker/uptime", strconv.FormatInt(int64(now.Sub(s.started)/time.Second), 10) + " seconds"},
		{"$SYS/broker/clients/connected", strconv.FormatInt(st.connsCurrent.Load(), 10)},
		{"$SYS/broker/clients/total", strconv.Itoa(s.sessionCount())},
		{"$SYS/broker/messages/received", u(pktIn)},
		{"$SYS/broker/messages/sent", u(pktOut)},
		{"$SYS/broker/publish/messages/received", u(recv)},
		{"$SYS/broker/publish/messages/sent", u(sent)},
		{"$SYS/broker/publish/messages/dropped", u(dropped)},
		{"$SYS/broker/bytes/received", u(cur[2])},
		{"$SYS/broker/bytes/sent", u(cur[3])},
		{"$SYS/broker/retained messages/count", strconv.Itoa(s.retained.Len())},
		{"$SYS/broker/subscriptions/count", strconv.Itoa(s.index.Len())},
	}
	names := [5]string{"messages/received", "messages/sent", "bytes/received", "bytes/sent", "connections"}
	for i, n := range names {
		for j, w := range []string{"1min", "5min", "15min"} {
			kv = append(kv, [2]string{"$SYS/broker/load/" + n + "/" + w, f(sy.loads[i][j])})
		}
	}
	for _, e := range kv {
		m := &Message{Topic: e[0], Payload: []byte(e[1]), Retain: true, ReceivedAt: now}
		s.putRetained(m)
		_ = s.route(m, "")
	}
}

func (s *Server) sessionCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}
