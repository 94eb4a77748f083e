// Package testkit is the one set of test helpers of the module: polling
// (WaitFor, Poll), running a service or a bridge for a test (Start,
// RunBridge) with timeouts, a recording Sink, HTTP calls to the admin API
// (Call, Request), a bridge for the admin API's tests (APIBridge,
// TelemetryMapping), MQTT clients (ConnectV3, Wire: a raw client speaking
// through the codec) and setting config keys by name (Set).
//
// It is imported by tests only. So that every package's own tests (package
// x, not x_test) may import it, it imports no package of this module but
// two pure leaves whose tests do not use it: mapping and the codec,
// mqttfront/packets. What it needs of a bridge or a front end it takes as
// an interface or a type parameter.
package testkit
