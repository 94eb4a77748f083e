package mqttfront

import "time"

// rateLimiter is a per-connection token bucket for inbound publishes
// (messages and bytes per second, burst one second's worth). Exceeding it
// delays reading; nothing is dropped.
type rateLimiter struct {
	msgRate, byteRate float64
	msgs, bytes       float64
	last              time.Time
}

func newRateLimiter(msgRate float64, byteRate int) *rateLimiter {
	return &rateLimiter{msgRate: msgRate, byteRate: float64(byteRate), msgs: msgRate, bytes: float64(byteRate), last: time.Now()}
}

// wait takes one message of n bytes from the buckets, sleeping while they
// are empty. It returns false if done closes first.
func (r *rateLimiter) wait(n int, done <-chan struct{}) bool {
	now := time.Now()
	el := now.Sub(r.last).Seconds()
	r.last = now
	var need time.Duration
	if r.msgRate > 0 {
		r.msgs = min(r.msgRate, r.msgs+el*r.msgRate) - 1
		if r.msgs < 0 {
			need = max(need, time.Duration(-r.msgs/r.msgRate*float64(time.Second)))
		}
	}
	if r.byteRate > 0 {
		r.bytes = min(r.byteRate, r.bytes+el*r.byteRate) - float64(n)
		if r.bytes < 0 {
			need = max(need, time.Duration(-r.bytes/r.byteRate*float64(time.Second)))
		}
	}
	if need <= 0 {
		return true
	}
	t := time.NewTimer(need)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
