package mqttwire

import (
	"bufio"
	"errors"
	"io"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
)

// Frame is one packet as it came off the wire, undecoded: the first byte
// (type and flags), the remaining length and the body.
type Frame []byte

// Type is the packet type in the first byte.
func (f Frame) Type() packets.Type { return packets.Type(f[0] >> 4) }

// Body is what follows the remaining length.
func (f Frame) Body() []byte {
	i := 1
	for f[i]&0x80 != 0 {
		i++
	}
	return f[i+1:]
}

// ReadFrame reads one whole packet from r without decoding it, so that a
// test can check the exact bytes, or read a reply whose protocol version it
// does not know. The remaining length is a variable byte integer of at most
// four bytes (§1.5.5).
func ReadFrame(r *bufio.Reader) (Frame, error) {
	first, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	f := Frame{first}
	n, shift := 0, uint(0)
	for {
		c, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		f = append(f, c)
		n |= int(c&0x7F) << shift
		if c&0x80 == 0 {
			break
		}
		if len(f) == 5 {
			return nil, errors.New("remaining length longer than 4 bytes")
		}
		shift += 7
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(f, body...), nil
}
