package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// bbolt reuses the pages that deletes free but never gives them back to the
// file system, so a file that once held large offline queues keeps its
// size after they drain. Open therefore copies the live data into a fresh
// file when enough of the old one is free:
//
//  1. bolt.Compact into <path>.compact (same mode), without fsync per
//     transaction, then one fsync of the whole file;
//  2. rename it over <path> and fsync the directory;
//  3. open the new file and close the old one.
//
// The old file's lock is held throughout. A crash before the rename leaves
// the old file as it was, plus a temporary file that the next Open removes
// (it holds the lock, so no other process is compacting); a crash after it
// leaves the complete, synced new file.

const (
	// compactSuffix names the temporary file beside the store.
	compactSuffix = ".compact"
	// compactTxBytes bounds the bytes one copy transaction holds in memory.
	compactTxBytes = 32 << 20

	defaultCompactFreeRatio = 0.5
	defaultCompactMinBytes  = 64 << 20
)

// Points of a compaction, for the crash test's hook.
const (
	stageCopied  = "copied"  // data in the temporary file, not synced
	stageSynced  = "synced"  // temporary file complete and synced
	stageRenamed = "renamed" // renamed over the store, directory not synced
)

// compactCrashHook, when set (tests only), is called at each stage.
var compactCrashHook func(stage string)

func compactStage(stage string) {
	if compactCrashHook != nil {
		compactCrashHook(stage)
	}
}

// Compaction reports what Open's compaction did.
type Compaction struct {
	BeforeBytes int64 // file size before; 0 when Open did not compact
	AfterBytes  int64 // file size after
	Took        time.Duration
}

// Compaction returns what Open's compaction did (zero when it did not run).
func (s *Store) Compaction() Compaction { return s.compaction }

// removeLeftover removes a temporary compaction file left by a crash.
func removeLeftover(path string, log *zap.Logger) {
	tmp := path + compactSuffix
	err := os.Remove(tmp)
	switch {
	case err == nil:
		log.Warn("store: removed a compaction file left by a crash", zap.String("file", tmp))
	case !errors.Is(err, fs.ErrNotExist):
		log.Error("store: cannot remove a leftover compaction file", zap.String("file", tmp), zap.Error(err))
	}
}

// compactIfFree compacts db when the free space passes the thresholds and
// returns the database to use: the new one, or db itself when nothing was
// done or the compaction failed (logged; the old file is intact). An error
// means db is closed and the new file did not open.
func compactIfFree(db *bolt.DB, path string, bopts *bolt.Options, opts Options, log *zap.Logger) (*bolt.DB, Compaction, error) {
	ratio, minBytes := opts.CompactFreeRatio, opts.CompactMinBytes
	if ratio <= 0 {
		ratio = defaultCompactFreeRatio
	}
	if minBytes == 0 {
		minBytes = defaultCompactMinBytes
	}
	fi, err := os.Stat(path)
	if err != nil {
		log.Warn("store: cannot check free space", zap.Error(err))
		return db, Compaction{}, nil
	}
	size := fi.Size()
	var used int64 // pages up to the high-water mark...
	_ = db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	st := db.Stats()                                                        // FreeAlloc is only set by a write; FreePageN at open
	used -= int64(st.FreePageN+st.PendingPageN) * int64(db.Info().PageSize) // ...that are not free
	reclaim := size - used
	if reclaim < minBytes || float64(reclaim) < ratio*float64(size) {
		log.Debug("store: no compaction", zap.Int64("file_bytes", size), zap.Int64("free_bytes", reclaim))
		return db, Compaction{}, nil
	}
	log.Info("store: compacting", zap.Int64("file_bytes", size), zap.Int64("free_bytes", reclaim))
	start := time.Now()
	if err := compactInto(db, path, fi.Mode().Perm()); err != nil {
		_ = os.Remove(path + compactSuffix)
		log.Error("store: compaction failed; going on with the uncompacted file", zap.Error(err))
		return db, Compaction{}, nil
	}
	ndb, err := bolt.Open(path, fi.Mode().Perm(), bopts)
	_ = db.Close() // the old, now unlinked file
	if err != nil {
		return nil, Compaction{}, fmt.Errorf("reopen after compaction: %w", err)
	}
	c := Compaction{BeforeBytes: size, Took: time.Since(start)}
	if fi, err := os.Stat(path); err == nil {
		c.AfterBytes = fi.Size()
	}
	log.Info("store compacted", zap.Int64("before_bytes", c.BeforeBytes), zap.Int64("after_bytes", c.AfterBytes),
		zap.Duration("took", c.Took))
	return ndb, c, nil
}

// compactInto copies db into <path>.compact, syncs it and renames it over
// path.
func compactInto(db *bolt.DB, path string, mode fs.FileMode) error {
	tmp := path + compactSuffix
	dst, err := bolt.Open(tmp, mode, &bolt.Options{
		Timeout: time.Second, NoSync: true, FreelistType: bolt.FreelistMapType, NoFreelistSync: true,
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if err := bolt.Compact(dst, db, compactTxBytes); err != nil {
		_ = dst.Close()
		return fmt.Errorf("copy: %w", err)
	}
	compactStage(stageCopied)
	if err := dst.Sync(); err != nil {
		_ = dst.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // bolt.Open's mode went through the umask
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	compactStage(stageSynced)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	compactStage(stageRenamed)
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
