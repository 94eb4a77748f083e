// Package mapping holds the declarative routing rules of the bridge: it turns
// an inbound MQTT publish into a Kafka record (uplink) and a Kafka record into
// an MQTT message (downlink).
//
// The package is pure: no I/O, no goroutines, no logger, and no imports of
// mqttfront or kafka. Rules are compiled and validated once by Compile; the
// compiled *Rules is immutable and safe for concurrent use. See README.md for
// the rule syntax, the semantics and the dead-letter reasons.
package mapping
