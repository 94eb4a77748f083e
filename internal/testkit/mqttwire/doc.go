// Package mqttwire is the raw MQTT client of the tests: a TCP connection
// driven packet by packet, for what a client library cannot or will not do
// (hold an ack back, stay silent past the keepalive, close without
// DISCONNECT, send a frame the spec forbids) and for asserting the exact
// packets a broker answers.
//
// Well-formed packets are built as packets.Packet values and framed by the
// codec (mqttfront/packets): Send, Encode, ConnectPacket, Publish. Malformed
// frames are bytes the test writes by hand, annotated byte by byte, and sent
// with SendRaw. Replies are decoded by the codec (Read, Expect), or taken as
// undecoded frames (ReadFrame) where the exact bytes, or a reply in a
// version the test does not know in advance, are what is checked.
//
// It imports mqttfront/packets, a leaf that imports nothing of this module
// and whose tests do not import this package, so both mqttfront's own tests
// (package mqttfront) and its end-to-end tests (mqttfront_test) can use it.
package mqttwire
