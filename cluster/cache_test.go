package cluster

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCachePinTopic(t *testing.T) {
	c, err := openCache(filepath.Join(t.TempDir(), "cluster.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pin := pinnedTopic{ID: [16]byte{1, 2, 3}, Partitions: 8}
	if err := c.pinTopic("s", pin); err != nil {
		t.Fatalf("first pin: %v", err)
	}
	if err := c.pinTopic("s", pin); err != nil {
		t.Fatalf("same pin: %v", err)
	}
	err = c.pinTopic("s", pinnedTopic{ID: pin.ID, Partitions: 9})
	if !errors.Is(err, ErrTopicChanged) || !strings.Contains(err.Error(), "partition count changed from 8 to 9") {
		t.Fatalf("partition change: %v; want ErrTopicChanged naming 8 to 9", err)
	}
	err = c.pinTopic("s", pinnedTopic{ID: [16]byte{9}, Partitions: 8})
	if !errors.Is(err, ErrTopicChanged) || !strings.Contains(err.Error(), "recreated") {
		t.Fatalf("recreated topic: %v; want ErrTopicChanged saying recreated", err)
	}
}

func TestCacheCommitLoadClear(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.db")
	c, err := openCache(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 5)
	if err := c.commit("tab", []kv{{[]byte("a"), []byte("1")}, {[]byte("b"), []byte("2")}}, map[int32]int64{0: 10, 3: 4}, at); err != nil {
		t.Fatal(err)
	}
	if err := c.commit("tab", []kv{{[]byte("a"), nil}}, map[int32]int64{0: 11}, at); err != nil {
		t.Fatal(err)
	}
	if err := c.commit("other", []kv{{[]byte("x"), []byte("y")}}, map[int32]int64{0: 99}, at); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c, err = openCache(path); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := map[string]string{}
	if err := c.load("tab", func(k, v []byte) error { got[string(k)] = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["b"] != "2" {
		t.Fatalf("load = %v; want map[b:2]", got)
	}
	cps, err := c.checkpoints("tab")
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 2 || cps[0].Next != 11 || cps[3].Next != 4 || !cps[0].At.Equal(at) {
		t.Fatalf("checkpoints = %v; want 0:11 and 3:4 at %v", cps, at)
	}
	if err := c.clearTable("tab"); err != nil {
		t.Fatal(err)
	}
	cps, _ = c.checkpoints("tab")
	n := 0
	_ = c.load("tab", func(k, v []byte) error { n++; return nil })
	if len(cps) != 0 || n != 0 {
		t.Fatalf("after clearTable: %d checkpoints, %d entries; want 0, 0", len(cps), n)
	}
	if cps, _ := c.checkpoints("other"); cps[0].Next != 99 {
		t.Fatalf("clearTable(tab) touched table other: %v", cps)
	}
}
