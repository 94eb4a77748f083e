package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// topicSpec is an internal topic: how it is created and which settings are
// required of an existing one.
type topicSpec struct {
	name       string
	partitions int32
	// create holds the topic configs set at creation (min.compaction.lag.ms,
	// retention.ms...): tunable by the operator afterwards.
	create map[string]string
	// require holds configs an existing topic must have; a start is refused
	// otherwise (cleanup.policy...): without them the design does not hold.
	require map[string]string
}

// topicInfo is what the rest of the package needs to know of a verified
// topic.
type topicInfo struct {
	partitions int32
	// deleteRetention is delete.retention.ms: how long a tombstone is kept.
	// A checkpoint older than this needs a rebuild.
	deleteRetention time.Duration
}

// specs lists the internal topics of this replica.
func (c Config) specs(replicaID string) []topicSpec {
	lag := strconv.FormatInt(c.MinCompactionLag.Milliseconds(), 10)
	compacted := func(name string, partitions int, extra map[string]string) topicSpec {
		s := topicSpec{name: name, partitions: int32(partitions),
			create:  map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": lag},
			require: map[string]string{"cleanup.policy": "compact"}}
		for k, v := range extra {
			s.create[k], s.require[k] = v, v
		}
		return s
	}
	return []topicSpec{
		compacted(c.sessionsTopic(), c.Partitions, nil),
		compacted(c.retainedTopic(), c.Partitions, nil),
		// Heartbeat ages are measured in the broker's clock.
		compacted(c.replicasTopic(), 1, map[string]string{"message.timestamp.type": "LogAppendTime"}),
		{name: c.inboxTopic(replicaID), partitions: int32(c.InboxPartitions),
			create:  map[string]string{"cleanup.policy": "delete", "retention.ms": strconv.FormatInt(c.InboxRetention.Milliseconds(), 10)},
			require: map[string]string{"cleanup.policy": "delete"}},
		// Empty: its one partition elects the janitor (janitor.go).
		{name: c.janitorTopic(), partitions: 1,
			create:  map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000"},
			require: map[string]string{"cleanup.policy": "delete"}},
	}
}

// ensureTopics creates the missing topics, verifies the settings of every
// topic and pins their ids and partition counts in the cache. It refuses
// (an error naming topic and setting) a topic whose required setting is
// wrong, that was recreated, or whose partition count changed.
func ensureTopics(ctx context.Context, admin sarama.ClusterAdmin, c *cache, rf int16, specs []topicSpec) (map[string]topicInfo, error) {
	out := make(map[string]topicInfo, len(specs))
	for _, s := range specs {
		md, err := describeTopic(admin, s.name)
		if err != nil {
			return nil, err
		}
		if md == nil {
			entries := make(map[string]*string, len(s.create))
			for k, v := range s.create {
				entries[k] = &v
			}
			err := admin.CreateTopic(s.name, &sarama.TopicDetail{NumPartitions: s.partitions, ReplicationFactor: rf, ConfigEntries: entries}, false)
			if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
				return nil, fmt.Errorf("create topic %s: %w", s.name, err)
			}
			if md, err = waitTopic(ctx, admin, s.name); err != nil {
				return nil, err
			}
		}
		configs, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: s.name})
		if err != nil {
			return nil, fmt.Errorf("describe configs of topic %s: %w", s.name, err)
		}
		got := make(map[string]string, len(configs))
		for _, e := range configs {
			got[e.Name] = e.Value
		}
		for k, want := range s.require {
			if got[k] != want {
				return nil, fmt.Errorf("topic %s: %s is %q, want %q (the topic exists with the wrong settings; fix it with kafka-configs.sh or choose another cluster.topic_prefix)", s.name, k, got[k], want)
			}
		}
		info := topicInfo{partitions: int32(len(md.Partitions)), deleteRetention: 24 * time.Hour}
		if v, err := strconv.ParseInt(got["delete.retention.ms"], 10, 64); err == nil {
			info.deleteRetention = time.Duration(v) * time.Millisecond
		}
		if err := c.pinTopic(s.name, pinnedTopic{ID: md.Uuid, Partitions: info.partitions}); err != nil {
			return nil, err
		}
		out[s.name] = info
	}
	return out, nil
}

// describeTopic returns the topic's metadata, or nil when it does not exist.
func describeTopic(admin sarama.ClusterAdmin, name string) (*sarama.TopicMetadata, error) {
	mds, err := admin.DescribeTopics([]string{name})
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", name, err)
	}
	if len(mds) != 1 {
		return nil, fmt.Errorf("describe topic %s: %d answers", name, len(mds))
	}
	md := mds[0]
	switch {
	case errors.Is(md.Err, sarama.ErrUnknownTopicOrPartition):
		return nil, nil
	case md.Err != sarama.ErrNoError:
		return nil, fmt.Errorf("describe topic %s: %w", name, md.Err)
	}
	return md, nil
}

// waitTopic polls until a created topic shows all its partitions with
// leaders (creation is asynchronous in Kafka).
func waitTopic(ctx context.Context, admin sarama.ClusterAdmin, name string) (*sarama.TopicMetadata, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		md, err := describeTopic(admin, name)
		if err == nil && md != nil && len(md.Partitions) > 0 {
			ready := true
			for _, p := range md.Partitions {
				ready = ready && p.Err == sarama.ErrNoError && p.Leader >= 0
			}
			if ready {
				return md, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("topic %s created but not ready: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}
