// Package store keeps the MQTT front end's durable state (sessions,
// subscriptions, inflight and queued outbound messages, inbound QoS 2 packet
// ids and retained messages) in a bbolt file. See README.md for the layout.
package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// FormatVersion is the layout version written to the meta bucket. Open
// refuses a file whose version is newer and migrates an older one
// (migrate.go). Version 2 stores each subscription under its own key.
const FormatVersion = 2

// Outbound message states (Message.State).
const (
	StateQueued    byte = 0 // never sent
	StatePublished byte = 1 // PUBLISH sent, awaiting PUBACK/PUBREC
	StateReleased  byte = 2 // PUBREL sent, awaiting PUBCOMP
)

var (
	bucketMeta     = []byte("meta")
	bucketSessions = []byte("sessions")
	bucketMessages = []byte("messages")
	bucketRetained = []byte("retained")
	bucketSubs     = []byte("subscriptions")
	bucketMarks    = []byte("marks")
	keyVersion     = []byte("version")
)

var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store closed")
	// ErrNewerVersion is returned by Open for a file written by a newer
	// release.
	ErrNewerVersion = errors.New("store format is newer than this release supports")
	// ErrEmptyKey is returned for an empty client id or topic.
	ErrEmptyKey = errors.New("empty client id or topic")
)

// Subscription is one persisted subscription of a session.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	ID                uint32 // v5 Subscription Identifier, 0 = none
}

// Session is the persisted part of an MQTT session.
type Session struct {
	ClientID       string
	Version        byte // protocol level 3, 4 or 5
	Username       string
	ExpiryInterval uint32    // seconds; 0xFFFFFFFF = never expires
	DisconnectedAt time.Time // zero while connected
	Subscriptions  []Subscription
	InboundQoS2    []uint16 // packet ids PUBREC'd and awaiting PUBREL [MQTT-4.3.3-9]
	Will           *Message // a pending will (v5 Will Delay), nil when none
	WillAt         time.Time
}

// Message is a retained message or one outbound message of a session.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Props: only the PUBLISH-relevant fields are persisted: PayloadFormat
	// (+Set), MessageExpiry (+Set), ContentType, ResponseTopic,
	// CorrelationData, User and SubscriptionIDs. The rest read back zero.
	Props     packets.Properties
	ExpiresAt time.Time // zero = never
	StoredAt  time.Time
	PacketID  uint16 // outbound state
	State     byte   // StateQueued, StatePublished or StateReleased
}

// Options tunes Open. The zero value is the production setting.
type Options struct {
	// NoSync skips fsync on commit. For tests and benchmarks only: a crash
	// may lose or corrupt committed data.
	NoSync bool
	// MaxBatchDelay, when positive, switches group commit to bbolt's
	// db.Batch, where each write waits up to this long for others to join
	// its transaction. The default (0) is the store's own adaptive group
	// commit, which never waits: writes that arrive during a commit share
	// the next one. Kept for comparison benchmarks.
	MaxBatchDelay time.Duration
	// MaxBatchSize caps the writes in one transaction. Default 1000.
	MaxBatchSize int
	// SkipCorrupt makes Sessions, Messages and Retained log and skip a
	// record that fails to decode (counted in Stats.CorruptSkipped) instead
	// of stopping with a *CorruptError. The record stays in the file.
	SkipCorrupt bool
	// LockTimeout bounds the wait for the file lock held by another
	// process. Default 1s.
	LockTimeout time.Duration
	// Open compacts the file (compact.go) when at least CompactFreeRatio
	// of it and at least CompactMinBytes could be reclaimed: bbolt reuses
	// freed pages but never shrinks its file. CompactFreeRatio 0 means
	// 0.5; CompactMinBytes 0 means 64 MiB and a negative value no
	// minimum. NoCompact turns it off.
	CompactFreeRatio float64
	CompactMinBytes  int64
	NoCompact        bool
}

// Stats are cheap counters of what the store holds.
type Stats struct {
	Sessions  int64
	Retained  int64
	Messages  int64
	FileBytes int64
	// Writes counts successful Put*, Delete* and Apply calls since Open
	// (an Apply counts once); Commits the write transactions that carried
	// them (0 with Options.MaxBatchDelay). Writes/Commits is the mean
	// group-commit batch size.
	Writes  int64
	Commits int64
	// CorruptSkipped counts records skipped under Options.SkipCorrupt.
	CorruptSkipped int64
}

// Store is the durable state. Its methods are safe for concurrent use; every
// write returns after its transaction has committed (and, unless
// Options.NoSync, been fsynced).
type Store struct {
	db    *bolt.DB
	path  string
	log   *zap.Logger
	write func(func(*bolt.Tx) error) error // group commit: committer.do or db.Batch
	gc    *committer                       // nil with Options.MaxBatchDelay

	mu     sync.RWMutex // guards closed against Close; held shared by calls
	closed bool

	sessions atomic.Int64
	retained atomic.Int64
	messages atomic.Int64
	writes   atomic.Int64
	corrupt  atomic.Int64

	skipCorrupt bool
	compaction  Compaction // done by Open

	bufs sync.Pool // *[]byte encode buffers
}

// Open opens or creates the database file at path with default Options.
func Open(path string, log *zap.Logger) (*Store, error) {
	return OpenOptions(path, log, Options{})
}

// OpenOptions opens or creates the database file at path, creating parent
// directories, and checks the format version.
func OpenOptions(path string, log *zap.Logger, opts Options) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = 1000
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	bopts := &bolt.Options{
		Timeout:        opts.LockTimeout,
		NoSync:         opts.NoSync,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	}
	db, err := bolt.Open(path, 0o600, bopts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	log = log.With(zap.String("path", path))
	// The file lock is held: a temporary file is a leftover of a crash.
	removeLeftover(path, log)
	var compaction Compaction
	if !opts.NoCompact {
		if db, compaction, err = compactIfFree(db, path, bopts, opts, log); err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	s := &Store{db: db, path: path, log: log, skipCorrupt: opts.SkipCorrupt, compaction: compaction}
	if opts.MaxBatchDelay > 0 {
		db.MaxBatchDelay = opts.MaxBatchDelay
		db.MaxBatchSize = opts.MaxBatchSize
		s.write = db.Batch
	} else {
		s.gc = &committer{db: db, maxBatch: opts.MaxBatchSize}
		s.write = s.gc.do
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.log.Info("store opened",
		zap.Int64("file_bytes", s.Stats().FileBytes),
		zap.Int64("sessions", s.sessions.Load()),
		zap.Int64("messages", s.messages.Load()),
		zap.Int64("retained", s.retained.Load()))
	return s, nil
}

// init checks or writes the format version, creates the buckets and loads
// the counters.
func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			if tx.Bucket(bucketSessions) != nil || tx.Bucket(bucketMessages) != nil || tx.Bucket(bucketRetained) != nil ||
				tx.Bucket(bucketSubs) != nil {
				return fmt.Errorf("%w: meta bucket missing", ErrCorrupt)
			}
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			v := binary.AppendUvarint(nil, FormatVersion)
			if err := meta.Put(keyVersion, v); err != nil {
				return err
			}
		}
		raw := meta.Get(keyVersion)
		v, n := binary.Uvarint(raw)
		switch {
		case n <= 0 || n != len(raw):
			return fmt.Errorf("%w: meta/version %x", ErrCorrupt, raw)
		case v > FormatVersion:
			return fmt.Errorf("%w: file has version %d, this release reads up to %d", ErrNewerVersion, v, FormatVersion)
		}
		for _, name := range [][]byte{bucketSessions, bucketMessages, bucketRetained, bucketSubs, bucketMarks} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if v < FormatVersion {
			if err := s.migrate(tx, v); err != nil {
				return fmt.Errorf("migrate from format %d: %w", v, err)
			}
		}
		s.sessions.Store(int64(tx.Bucket(bucketSessions).Stats().KeyN))
		s.retained.Store(int64(tx.Bucket(bucketRetained).Stats().KeyN))
		var msgs int64
		err := tx.Bucket(bucketMessages).ForEachBucket(func(k []byte) error {
			msgs += int64(tx.Bucket(bucketMessages).Bucket(k).Stats().KeyN)
			return nil
		})
		s.messages.Store(msgs)
		return err
	})
}

// Close closes the database. It waits for calls in progress and is
// idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Stats returns the record counters and the file size. It takes no
// transaction.
func (s *Store) Stats() Stats {
	st := Stats{
		Sessions:       s.sessions.Load(),
		Retained:       s.retained.Load(),
		Messages:       s.messages.Load(),
		Writes:         s.writes.Load(),
		CorruptSkipped: s.corrupt.Load(),
	}
	if s.gc != nil {
		st.Commits = s.gc.commits.Load()
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st
}

// enter marks a call in progress; the caller must call s.mu.RUnlock.
func (s *Store) enter() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// batch runs fn in a group-committed write transaction. fn may run more than
// once (bbolt retries the others when one call of a batch fails), so it must
// reset any result it reports.
func (s *Store) batch(fn func(*bolt.Tx) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := s.write(fn); err != nil {
		return err
	}
	s.writes.Add(1)
	return nil
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.db.View(fn)
}

func (s *Store) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 512)
	return &b
}

func (s *Store) putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // let big payload buffers go
	}
	*b = (*b)[:0]
	s.bufs.Put(b)
}

// maxPlainKey is the longest client id or topic used verbatim as a bbolt key
// (bbolt allows 32 KiB; long keys bloat branch pages). Longer ones are keyed
// by 0x00 + SHA-256: MQTT strings may not contain U+0000 [MQTT-1.5.4-2], so
// the two forms cannot collide. The record itself always holds the full
// string.
const maxPlainKey = 1024

func nameKey(s string) []byte {
	if len(s) <= maxPlainKey {
		return []byte(s)
	}
	sum := sha256.Sum256([]byte(s))
	return append([]byte{0}, sum[:]...)
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// iterChunk is how many records an iteration decodes per read transaction.
// The callback runs outside any transaction, so it may write to the store.
const iterChunk = 256
