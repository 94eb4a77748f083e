package packets

// This file is the codec's contract, written before the implementation so the
// broker can be written against it. The implementer replaces these stubs (and
// deletes this file) keeping the signatures.

import "bufio"

// DefaultMaxPacketSize is the largest packet the spec allows: 268,435,455
// bytes of remaining length plus the 5-byte fixed header.
const DefaultMaxPacketSize = 268435460

// Read reads one whole packet from r. version selects the v3 or v5 layout for
// every packet but CONNECT (which carries its own version). maxSize bounds the
// whole packet (fixed header included); a larger packet yields an error whose
// Code is PacketTooLarge, without reading its body into memory. Errors carry a
// reason code (MalformedPacket, ProtocolError, PacketTooLarge,
// UnsupportedProtocolVersion); io errors are returned unwrapped.
// The returned packet owns its memory (it does not alias r's buffer).
func Read(r *bufio.Reader, version Version, maxSize uint32) (*Packet, error) {
	panic("not implemented")
}

// Decode parses a packet whose fixed header first byte and body (the
// remaining-length bytes) are given. The packet may alias body.
// For CONNECT with an unsupported protocol level or name, Decode returns the
// partially filled packet (ProtocolVersion and ProtocolName set) together
// with an error whose Code is UnsupportedProtocolVersion, so the server can
// answer with the right CONNACK. [MQTT-3.1.2-2]
func Decode(first byte, body []byte, version Version) (*Packet, error) {
	panic("not implemented")
}

// Encode appends the wire form of p for the given version to dst. It fails
// (with a reason-code error) on a packet that breaks a rule the encoder can
// see, e.g. a property not allowed on that packet type.
func Encode(dst []byte, p *Packet, version Version) ([]byte, error) {
	panic("not implemented")
}

// ValidTopicName checks a PUBLISH topic: non-empty, valid UTF-8 without U+0000,
// at most 65535 bytes, no wildcards. [MQTT-3.3.2-1] [MQTT-3.3.2-2] [MQTT-4.7.3-1]
func ValidTopicName(topic string) error { panic("not implemented") }

// ValidTopicFilter checks a subscription filter: non-empty, valid UTF-8,
// '#' only last and alone in its level, '+' alone in its level, and for
// $share/{group}/{filter} a non-empty group without wildcards followed by a
// valid filter. [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.8.2-1] [MQTT-4.8.2-2]
func ValidTopicFilter(filter string) error { panic("not implemented") }

// ParseShared splits "$share/{group}/{filter}" into its group and filter; ok
// is false for a filter that is not a shared subscription.
func ParseShared(filter string) (group, inner string, ok bool) { panic("not implemented") }

// ValidUTF8 reports whether s is well-formed UTF-8 without U+0000 and without
// the surrogates U+D800..U+DFFF. [MQTT-1.5.4-1] [MQTT-1.5.4-2]
func ValidUTF8(s []byte) bool { panic("not implemented") }
