package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// cacheVersion is the layout version of cluster.db (README.md, "Caches").
// 2: the sessions table keeps each session's state with its owner.
const cacheVersion = 2

var (
	bucketMeta    = []byte("meta")
	bucketTopics  = []byte("topics")
	bucketOffsets = []byte("offsets")
	bucketTables  = []byte("tables")
	keyVersion    = []byte("version")
)

// ErrTopicChanged is wrapped by the errors that refuse a start because an
// internal topic was recreated or its partition count changed.
var ErrTopicChanged = errors.New("internal topic changed")

// cache is the replica's bbolt file: pinned topic identities, checkpointed
// offsets and the tables' derived state, so a restart reads only the delta.
// It is a cache: deleting the file costs a full read of the topics.
type cache struct {
	db *bolt.DB
}

// pinnedTopic is what the cache remembers of an internal topic.
type pinnedTopic struct {
	ID         [16]byte
	Partitions int32
}

// checkpoint is a partition's next offset to read and when it was written.
type checkpoint struct {
	Next int64
	At   time.Time
}

// kv is one change to a table's cached state; a nil Value deletes Key.
type kv struct {
	Key, Value []byte
}

func openCache(path string) (*cache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open cluster cache: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open cluster cache %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketTopics, bucketOffsets, bucketTables} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyVersion); v != nil {
			n, _ := binary.Uvarint(v)
			if n != cacheVersion {
				return fmt.Errorf("cluster cache %s has layout version %d, this build reads %d: delete the file to rebuild it from Kafka", path, n, cacheVersion)
			}
			return nil
		}
		return meta.Put(keyVersion, binary.AppendUvarint(nil, cacheVersion))
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open cluster cache: %w", err)
	}
	return &cache{db: db}, nil
}

func (c *cache) Close() error { return c.db.Close() }

// pinTopic records a topic's id and partition count the first time it is
// seen and refuses a later start where either changed.
func (c *cache) pinTopic(name string, t pinnedTopic) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTopics)
		v := b.Get([]byte(name))
		if v == nil {
			return b.Put([]byte(name), append(t.ID[:], binary.BigEndian.AppendUint32(nil, uint32(t.Partitions))...))
		}
		if len(v) != 20 {
			return fmt.Errorf("cluster cache: topic %s: corrupt pin (%d bytes)", name, len(v))
		}
		var old pinnedTopic
		copy(old.ID[:], v[:16])
		old.Partitions = int32(binary.BigEndian.Uint32(v[16:]))
		if old.ID != t.ID {
			return fmt.Errorf("topic %s was deleted and recreated (topic id %x, was %x): session epochs would go backwards; to accept it, stop every replica and delete cluster.db in each data dir: %w", name, t.ID, old.ID, ErrTopicChanged)
		}
		if old.Partitions != t.Partitions {
			return fmt.Errorf("topic %s: partition count changed from %d to %d: keys would move partitions and epochs go backwards; to accept it, stop every replica and delete cluster.db in each data dir: %w", name, old.Partitions, t.Partitions, ErrTopicChanged)
		}
		return nil
	})
}

func offsetKey(table string, partition int32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(table), 0), uint32(partition))
}

// checkpoints returns the stored checkpoints of a table by partition.
func (c *cache) checkpoints(table string) (map[int32]checkpoint, error) {
	out := map[int32]checkpoint{}
	err := c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketOffsets).Cursor()
		prefix := append([]byte(table), 0)
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			if len(k) != len(prefix)+4 || len(v) != 16 {
				return fmt.Errorf("cluster cache: corrupt checkpoint %q", k)
			}
			p := int32(binary.BigEndian.Uint32(k[len(prefix):]))
			out[p] = checkpoint{Next: int64(binary.BigEndian.Uint64(v)), At: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:])))}
		}
		return nil
	})
	return out, err
}

// commit writes a table's changes and its partitions' checkpoints in one
// transaction, so the cached state is always that of the offsets stored.
func (c *cache) commit(table string, changes []kv, next map[int32]int64, at time.Time) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		tb, err := tx.Bucket(bucketTables).CreateBucketIfNotExists([]byte(table))
		if err != nil {
			return err
		}
		for _, ch := range changes {
			if ch.Value == nil {
				err = tb.Delete(ch.Key)
			} else {
				err = tb.Put(ch.Key, ch.Value)
			}
			if err != nil {
				return fmt.Errorf("table %s key %q: %w", table, ch.Key, err)
			}
		}
		ob := tx.Bucket(bucketOffsets)
		for p, n := range next {
			v := binary.BigEndian.AppendUint64(nil, uint64(n))
			v = binary.BigEndian.AppendUint64(v, uint64(at.UnixNano()))
			if err := ob.Put(offsetKey(table, p), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// clearTable drops a table's state and checkpoints (a rebuild).
func (c *cache) clearTable(table string) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		tbs := tx.Bucket(bucketTables)
		if tbs.Bucket([]byte(table)) != nil {
			if err := tbs.DeleteBucket([]byte(table)); err != nil {
				return err
			}
		}
		cur := tx.Bucket(bucketOffsets).Cursor()
		prefix := append([]byte(table), 0)
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Seek(prefix) {
			if err := cur.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// load calls fn for every cached entry of a table, in key order. The
// slices are copies.
func (c *cache) load(table string, fn func(key, value []byte) error) error {
	return c.db.View(func(tx *bolt.Tx) error {
		tb := tx.Bucket(bucketTables).Bucket([]byte(table))
		if tb == nil {
			return nil
		}
		return tb.ForEach(func(k, v []byte) error {
			return fn(bytes.Clone(k), bytes.Clone(v))
		})
	})
}
