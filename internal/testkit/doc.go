// Package testkit is the one set of test helpers of the module: polling
// (WaitFor, Poll), running a service or a bridge for a test (Start,
// RunBridge) with timeouts, a recording Sink, HTTP calls to the admin API
// (Call, Request), a bridge for the admin API's tests (APIBridge,
// TelemetryMapping), a Recorder, MQTT clients (ConnectV3, CloseV5) and
// setting config keys by name (Set). Its subpackage mqttwire is the raw
// MQTT client of the tests. See README.md.
//
// It is imported by tests only. So that every package's own tests (package
// x, not x_test) may import it, it imports no package of this module but
// mapping, a pure leaf whose tests do not use it. What it needs of a bridge
// or a front end it takes as an interface or a type parameter.
package testkit
