package cluster

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

func newTestCache(t testing.TB) *cache {
	t.Helper()
	c, err := openCache(filepath.Join(t.TempDir(), "cluster.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestTopicsCreatedWithSettings(t *testing.T) {
	admin, _ := testAdmin(t)
	cfg := testConfig(t, "r1")
	c := newTestCache(t)
	infos, err := ensureTopics(context.Background(), admin, c, 1, cfg.specs("r1"))
	if err != nil {
		t.Fatalf("ensureTopics: %v", err)
	}
	want := map[string]struct {
		partitions int32
		configs    map[string]string
	}{
		cfg.sessionsTopic():  {4, map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "3600000"}},
		cfg.retainedTopic():  {4, map[string]string{"cleanup.policy": "compact"}},
		cfg.replicasTopic():  {1, map[string]string{"cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime"}},
		cfg.inboxTopic("r1"): {1, map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000"}},
	}
	for name, w := range want {
		if infos[name].partitions != w.partitions {
			t.Errorf("%s: %d partitions; want %d", name, infos[name].partitions, w.partitions)
		}
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range entries {
			got[e.Name] = e.Value
		}
		for k, v := range w.configs {
			if got[k] != v {
				t.Errorf("%s: %s = %q; want %q", name, k, got[k], v)
			}
		}
	}
	// A second start with the same cache accepts the same topics.
	if _, err := ensureTopics(context.Background(), admin, c, 1, cfg.specs("r1")); err != nil {
		t.Fatalf("second ensureTopics: %v", err)
	}
}

func TestTopicsWrongCleanupPolicyRefused(t *testing.T) {
	admin, bootstrap := testAdmin(t)
	cfg := testConfig(t, "r1")
	testenv.CreateTopic(t, bootstrap, cfg.sessionsTopic(), 4) // cleanup.policy=delete
	_, err := ensureTopics(context.Background(), admin, newTestCache(t), 1, cfg.specs("r1"))
	if err == nil || !strings.Contains(err.Error(), "topic "+cfg.sessionsTopic()+": cleanup.policy is \"delete\", want \"compact\"") {
		t.Fatalf("ensureTopics = %v; want a refusal naming %s and cleanup.policy", err, cfg.sessionsTopic())
	}
}

func TestTopicsPartitionCountChangeRefused(t *testing.T) {
	admin, _ := testAdmin(t)
	cfg := testConfig(t, "r1")
	c := newTestCache(t)
	if _, err := ensureTopics(context.Background(), admin, c, 1, cfg.specs("r1")); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreatePartitions(cfg.retainedTopic(), 6, nil, false); err != nil {
		t.Fatal(err)
	}
	var err error
	waitFor(t, defaultWait, "the refusal", func() bool {
		_, err = ensureTopics(context.Background(), admin, c, 1, cfg.specs("r1"))
		return err != nil
	})
	if !errors.Is(err, ErrTopicChanged) || !strings.Contains(err.Error(), cfg.retainedTopic()+": partition count changed from 4 to 6") {
		t.Fatalf("ensureTopics = %v; want ErrTopicChanged naming %s, 4 to 6", err, cfg.retainedTopic())
	}
}

func TestTopicsRecreatedRefused(t *testing.T) {
	admin, _ := testAdmin(t)
	cfg := testConfig(t, "r1")
	c := newTestCache(t)
	if _, err := ensureTopics(context.Background(), admin, c, 1, cfg.specs("r1")); err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteTopic(cfg.sessionsTopic()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, defaultWait, "the topic to be gone", func() bool {
		md, err := describeTopic(admin, cfg.sessionsTopic())
		return err == nil && md == nil
	})
	var err error
	waitFor(t, defaultWait, "the refusal", func() bool {
		_, err = ensureTopics(context.Background(), admin, c, 1, cfg.specs("r1"))
		return errors.Is(err, ErrTopicChanged)
	})
	if !strings.Contains(err.Error(), "topic "+cfg.sessionsTopic()+" was deleted and recreated") {
		t.Fatalf("ensureTopics = %v; want a refusal saying %s was recreated", err, cfg.sessionsTopic())
	}
}
