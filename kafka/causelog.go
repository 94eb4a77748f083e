package kafka

import "go.uber.org/zap/zapcore"

// causeLog makes a retry loop name each failure's cause once: the first
// failure, and each change of its kind (a wrong password that becomes an
// unreachable broker, say), are logged at warn; the same cause again is
// logged at debug. A success resets it, so the next outage is named again.
// Not safe for concurrent use: one per retry loop.
type causeLog struct{ last string }

// level returns the level for a failure of this kind.
func (c *causeLog) level(kind string) zapcore.Level {
	if kind == c.last {
		return zapcore.DebugLevel
	}
	c.last = kind
	return zapcore.WarnLevel
}

// ok records a success.
func (c *causeLog) ok() { c.last = "" }
