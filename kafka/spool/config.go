package spool

import (
	"errors"
	"fmt"
	"time"
)

// Fsync policies accepted in Config.Fsync.
const (
	// FsyncAlways acks a record only after an fsync that covers it. Many
	// records share one fsync (group commit). Kafka equivalent: none; this is
	// roughly log.flush.interval.messages=1 with batching.
	FsyncAlways = "always"
	// FsyncInterval acks a record once it is written to the file; an fsync
	// runs every FsyncInterval. Roughly log.flush.interval.ms.
	FsyncInterval = "interval"
	// FsyncNever acks a record once it is written to the file and leaves
	// flushing to the OS (fsync only at shutdown). A crash of the machine
	// (not only of the process) can lose acked records.
	FsyncNever = "never"
)

// maxSegmentBytes bounds segment_bytes so record offsets fit in uint32.
const maxSegmentBytes = 1 << 30

// Config is the `kafka.spool` section of config.yaml.
type Config struct {
	// Enabled turns the disk spill on. Default false here; the shipped
	// config.yaml enables it.
	Enabled bool `koanf:"enabled"`
	// Dir holds the segment files. It is created if missing. Default
	// "./data/spool".
	Dir string `koanf:"dir"`
	// QuotaBytes bounds the bytes of all segment files on disk, headers and
	// preallocated space included. Space is freed in whole segments, so the
	// quota must be at least two segments (EMQX: buffer per partition,
	// default 256 MB). Default 1 GiB.
	QuotaBytes int64 `koanf:"quota_bytes"`
	// SegmentBytes is the size of one segment file (preallocated). A record
	// larger than a segment gets a segment of its own. Roughly Kafka's
	// log.segment.bytes (EMQX segment_bytes, 10 MB). Default 16 MiB, at most
	// 1 GiB.
	SegmentBytes int64 `koanf:"segment_bytes"`
	// Fsync is always (the default; group commit), interval or never.
	Fsync string `koanf:"fsync"`
	// FsyncInterval is the fsync period for fsync=interval. Default 100ms.
	FsyncInterval time.Duration `koanf:"fsync_interval"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Enabled:       false,
		Dir:           "./data/spool",
		QuotaBytes:    1 << 30,
		SegmentBytes:  16 << 20,
		Fsync:         FsyncAlways,
		FsyncInterval: 100 * time.Millisecond,
	}
}

// Validate reports the first invalid key, named as in config.yaml.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("kafka.spool.dir: must not be empty")
	case c.SegmentBytes < 4096:
		return fmt.Errorf("kafka.spool.segment_bytes: %d is below the minimum of 4096", c.SegmentBytes)
	case c.SegmentBytes > maxSegmentBytes:
		return fmt.Errorf("kafka.spool.segment_bytes: %d exceeds the maximum of %d", c.SegmentBytes, maxSegmentBytes)
	case c.QuotaBytes < 2*c.SegmentBytes:
		return fmt.Errorf("kafka.spool.quota_bytes: %d must be at least 2*segment_bytes (%d); space is freed in whole segments", c.QuotaBytes, 2*c.SegmentBytes)
	}
	switch c.Fsync {
	case FsyncAlways, FsyncNever:
	case FsyncInterval:
		if c.FsyncInterval <= 0 {
			return fmt.Errorf("kafka.spool.fsync_interval: %v must be positive when fsync=interval", c.FsyncInterval)
		}
	default:
		return fmt.Errorf("kafka.spool.fsync: %q is not one of always, interval, never", c.Fsync)
	}
	return nil
}
