// Package clusterkit is the cluster tests' harness on the client side:
// MQTT 3.1.1 and 5 clients that say what happened to their connection
// (Client), continuous publishers with per-publisher sequence numbers in
// self-checking payloads (Publisher), subscribers that record every
// receipt and reconnect (Subscriber), and the invariant check of what
// was acknowledged against what was delivered (Check): lost, duplicates
// beyond DUP redelivery, order per publisher, latency. It holds no product
// code and knows nothing of the bridge; the replicas' processes and the
// round-robin proxy (faultkit.NewRoundRobinProxy) are driven by the tests.
package clusterkit
