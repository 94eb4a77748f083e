package packets

// maxRemainingLength is the largest value a four-byte variable byte integer
// can carry. §1.5.5
const maxRemainingLength = 268435455

// fixedFlags is the required value of the low nibble of the first byte for
// every type but PUBLISH, whose flags carry DUP, QoS and RETAIN.
// [MQTT-2.1.3-1]
var fixedFlags = [16]byte{PUBREL: 0x2, SUBSCRIBE: 0x2, UNSUBSCRIBE: 0x2}

// checkFixedHeader validates the type and flags of the first byte. The
// PUBLISH flags are checked by the PUBLISH decoder.
func checkFixedHeader(first byte, v Version) error {
	t := Type(first >> 4)
	switch {
	case t == Reserved:
		return Errorf(MalformedPacket, "reserved packet type 0") // §2.1.2
	case t == AUTH && v != V5:
		return Errorf(MalformedPacket, "AUTH packet before MQTT 5") // type 15 is reserved in 3.1.1
	case t == PUBLISH:
		return nil
	case first&0x0F != fixedFlags[t]:
		return Errorf(MalformedPacket, "%s flags 0x%X, want 0x%X", t, first&0x0F, fixedFlags[t]) // [MQTT-2.1.3-1]
	}
	return nil
}

// varIntLen is the number of bytes of the variable byte integer n.
func varIntLen(n uint32) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	default:
		return 4
	}
}

// appendVarInt appends n (at most maxRemainingLength) as a variable byte
// integer with the minimal number of bytes. §1.5.5
func appendVarInt(dst []byte, n uint32) []byte {
	for n >= 128 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

// parseVarInt reads a variable byte integer from the start of b. Non-minimal
// encodings are accepted; more than four bytes is malformed. §1.5.5
func parseVarInt(b []byte) (val uint32, n int, err error) {
	var shift uint
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, Errorf(MalformedPacket, "truncated variable byte integer")
		}
		c := b[i]
		val |= uint32(c&0x7F) << shift
		if c&0x80 == 0 {
			return val, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, Errorf(MalformedPacket, "variable byte integer longer than 4 bytes")
}

// firstByte builds the first byte of the fixed header of p.
func firstByte(p *Packet) byte {
	b := byte(p.Type) << 4
	if p.Type == PUBLISH {
		if p.Dup {
			b |= 0x08
		}
		b |= (p.QoS & 0x3) << 1
		if p.Retain {
			b |= 0x01
		}
		return b
	}
	return b | fixedFlags[p.Type&0x0F]
}
