package packets

import (
	"bufio"
	"io"
)

// DefaultMaxPacketSize is the largest packet the spec allows: 268,435,455
// bytes of remaining length plus the 5-byte fixed header.
const DefaultMaxPacketSize = 268435460

// Read reads one whole packet from r. version selects the v3 or v5 layout for
// every packet but CONNECT (which carries its own version). maxSize bounds the
// whole packet (fixed header included); a larger packet yields an error whose
// Code is PacketTooLarge, without reading its body into memory (the caller is
// expected to close the connection: the body is left unread). maxSize 0 means
// DefaultMaxPacketSize. Errors carry a reason code (MalformedPacket,
// ProtocolError, PacketTooLarge, UnsupportedProtocolVersion, ...); io errors
// are returned unwrapped (io.EOF only before the first byte of a packet,
// io.ErrUnexpectedEOF inside one).
//
// The returned packet owns its memory (it does not alias r's buffer): the body
// is read into a fresh buffer that only the packet references, and its byte
// slices point into that buffer. A PUBLISH's strings (topic, properties)
// point into it too: they travel with the payload, which is that buffer.
// Every other packet's strings are copies, so a string a broker keeps (a
// client id, a user name, a subscription filter) holds only its own bytes,
// not a CONNECT or SUBSCRIBE padded with megabytes of user properties.
func Read(r *bufio.Reader, version Version, maxSize uint32) (*Packet, error) {
	return ReadInto(r, version, maxSize, nil)
}

// ReadInto is Read decoding into `into` when it is not nil, so that a
// reader can reuse one Packet for the packets it does not keep (a broker's
// inbound PUBLISH, read once per message). into must be the zero Packet:
// the decoder sets only the fields the packet carries. The strings and
// slices it sets still point into a fresh body buffer, so they stay valid
// after into is zeroed and reused.
func ReadInto(r *bufio.Reader, version Version, maxSize uint32, into *Packet) (*Packet, error) {
	first, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	var (
		length uint32
		shift  uint
		n      int
	)
	for {
		c, err := r.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		n++
		length |= uint32(c&0x7F) << shift
		if c&0x80 == 0 {
			break
		}
		if n == 4 {
			return nil, Errorf(MalformedPacket, "remaining length longer than 4 bytes") // §1.5.5
		}
		shift += 7
	}
	if err := checkFixedHeader(first, version); err != nil {
		return nil, err
	}
	if maxSize == 0 {
		maxSize = DefaultMaxPacketSize
	}
	if total := uint64(1+n) + uint64(length); total > uint64(maxSize) {
		return nil, Errorf(PacketTooLarge, "%s of %d bytes exceeds the maximum of %d", Type(first>>4), total, maxSize)
	}
	var body []byte
	if length > 0 {
		if body, err = readBody(r, int(length)); err != nil {
			return nil, err
		}
	}
	p := into
	if p == nil {
		p = new(Packet)
	}
	d := decoder{b: body, owned: Type(first>>4) == PUBLISH}
	if err := d.packet(p, first, version); err != nil {
		if d.partial {
			return p, err
		}
		return nil, err
	}
	return p, nil
}

// firstChunk is the body buffer's first size; it grows as bytes arrive.
const firstChunk = 4096

// readBody reads a body of length bytes into a buffer that grows as the
// bytes arrive, so a header announcing a large packet costs what the peer
// actually sent, not what it announced. The buffer starts at firstChunk
// and, each time it is full, grows fourfold, or to length when that is
// less than twice the next size (no last step from 1 MiB to 1 MiB + 25).
// So an allocation is at most 8 times the bytes received, and a large body
// allocates about 1.33 to 2 times its size in all (measured by
// BenchmarkReadPublishLarge). Bodies up to firstChunk (most packets) take
// one exact allocation as before.
func readBody(r *bufio.Reader, length int) ([]byte, error) {
	body := make([]byte, min(length, firstChunk))
	got := 0
	for {
		n, err := io.ReadFull(r, body[got:])
		got += n
		if err != nil {
			return nil, unexpected(err)
		}
		if got == length {
			return body, nil
		}
		next := 4 * len(body)
		if 2*next > length {
			next = length
		}
		grown := make([]byte, next)
		copy(grown, body)
		body = grown
	}
}

// unexpected turns an EOF inside a packet into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
