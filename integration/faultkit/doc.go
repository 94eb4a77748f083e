// Package faultkit is the fault tests' harness: a TCP proxy that can hang
// without closing (Proxy), an open-loop MQTT 3.1.1 load with per-key
// sequence numbers in self-checking payloads (Load, Payload), and the
// check of what Kafka holds against what was acked (Check, Presence). It
// holds no product code and knows nothing of the bridge.
package faultkit
