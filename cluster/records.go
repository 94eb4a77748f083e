package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// recordFormat is the first byte of every value this package writes; the
// second is the kind (README.md, "Records").
const recordFormat = 1

// Record kinds.
const (
	kindClaim     = 1
	kindState     = 2
	kindEnded     = 3
	kindRetained  = 4
	kindHeartbeat = 5
	// Kinds 6-8 are the inbox's (README.md, "Records").
	kindReap = 9 // reap.go
)

// Heartbeat states.
const (
	replicaStarting = 1
	replicaAlive    = 2
	replicaStopping = 3
)

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("corrupt cluster record")

// claimRecord is a CONNECT's claim on a session; its epoch is its offset.
type claimRecord struct {
	Owner       string
	Incarnation uint64
	CleanStart  bool
	Version     byte
	Expiry      uint32
	At          time.Time
	// Username is the connecting identity (written when not empty).
	Username string
	// Bound: mqtt.auth.bind_client_id_to_user at the claimer. Every
	// reader then refuses the claim when the session in the log, unexpired
	// at At, belongs to another non-anonymous user: the claim changes
	// nothing, whatever the readers' own settings.
	Bound bool
}

// Claim flags.
const (
	claimCleanStart = 0x01
	claimUsername   = 0x02 // the username follows the time
	claimBound      = 0x04
)

// heartbeatRecord is a replica's periodic sign of life.
type heartbeatRecord struct {
	Incarnation uint64
	State       byte
	Seq         uint64
	StartedAt   time.Time
	Admin       string // admin HTTP address, for the cluster API
	MQTT        string // MQTT listener addresses, for v5 server references
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixMilli())
}

func (r claimRecord) encode() []byte {
	b := []byte{recordFormat, kindClaim}
	b = appendStr(b, r.Owner)
	b = binary.AppendUvarint(b, r.Incarnation)
	var flags byte
	if r.CleanStart {
		flags |= claimCleanStart
	}
	if r.Username != "" {
		flags |= claimUsername
	}
	if r.Bound {
		flags |= claimBound
	}
	b = append(b, flags, r.Version)
	b = binary.AppendUvarint(b, uint64(r.Expiry))
	b = appendTime(b, r.At)
	if r.Username != "" {
		b = appendStr(b, r.Username)
	}
	return b
}

func (r heartbeatRecord) encode() []byte {
	b := []byte{recordFormat, kindHeartbeat}
	b = binary.AppendUvarint(b, r.Incarnation)
	b = append(b, r.State)
	b = binary.AppendUvarint(b, r.Seq)
	b = appendTime(b, r.StartedAt)
	b = appendStr(b, r.Admin)
	return appendStr(b, r.MQTT)
}

// recordKind checks the format byte and returns the kind.
func recordKind(v []byte) (byte, error) {
	if len(v) < 2 {
		return 0, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(v))
	}
	if v[0] != recordFormat {
		return 0, fmt.Errorf("%w: format %d (this build reads %d; a newer replica wrote it)", ErrCorrupt, v[0], recordFormat)
	}
	return v[1], nil
}

// decoder reads fields; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated at %s", ErrCorrupt, what)
	}
}

func (d *decoder) uv(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) str(what string) string {
	n := d.uv(what)
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time(what string) time.Time {
	if d.err != nil {
		return time.Time{}
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return time.Time{}
	}
	d.b = d.b[n:]
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return d.err
}

func decodeClaim(v []byte) (claimRecord, error) {
	if k, err := recordKind(v); err != nil || k != kindClaim {
		if err == nil {
			err = fmt.Errorf("%w: kind %d is not a claim", ErrCorrupt, k)
		}
		return claimRecord{}, err
	}
	d := decoder{b: v[2:]}
	var r claimRecord
	r.Owner = d.str("owner")
	r.Incarnation = d.uv("incarnation")
	flags := d.byte1("flags")
	if flags&^(claimCleanStart|claimUsername|claimBound) != 0 && d.err == nil {
		d.err = fmt.Errorf("%w: unknown claim flags %#x", ErrCorrupt, flags)
	}
	r.CleanStart = flags&claimCleanStart != 0
	r.Bound = flags&claimBound != 0
	r.Version = d.byte1("version")
	exp := d.uv("expiry")
	if exp > 0xffffffff && d.err == nil {
		d.err = fmt.Errorf("%w: expiry %d over 32 bits", ErrCorrupt, exp)
	}
	r.Expiry = uint32(exp)
	r.At = d.time("time")
	if flags&claimUsername != 0 {
		r.Username = d.str("username")
	}
	return r, d.end()
}

func decodeHeartbeat(v []byte) (heartbeatRecord, error) {
	if k, err := recordKind(v); err != nil || k != kindHeartbeat {
		if err == nil {
			err = fmt.Errorf("%w: kind %d is not a heartbeat", ErrCorrupt, k)
		}
		return heartbeatRecord{}, err
	}
	d := decoder{b: v[2:]}
	var r heartbeatRecord
	r.Incarnation = d.uv("incarnation")
	r.State = d.byte1("state")
	if (r.State < replicaStarting || r.State > replicaStopping) && d.err == nil {
		d.err = fmt.Errorf("%w: heartbeat state %d", ErrCorrupt, r.State)
	}
	r.Seq = d.uv("seq")
	r.StartedAt = d.time("started")
	r.Admin = d.str("admin")
	r.MQTT = d.str("mqtt")
	return r, d.end()
}
