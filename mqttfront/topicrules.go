package mqttfront

import (
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/packets"
	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/topics"
)

// The MQTT topic rules, for users of the front end that check topics
// themselves (the admin API's publish and its publish_allow filters)
// without naming the codec or the trie.

// ValidTopicName checks a topic a message may be published to: non-empty,
// valid UTF-8 without U+0000, at most 65535 bytes, no wildcards
// [MQTT-3.3.2-1] [MQTT-3.3.2-2] [MQTT-4.7.3-1]. Publish refuses what it
// refuses with ErrTopicInvalid.
func ValidTopicName(topic string) error { return packets.ValidTopicName(topic) }

// ValidTopicFilter checks a subscription filter: wildcards only as whole
// levels, '#' last, and a $share/{group}/ prefix well formed
// [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.8.2-1] [MQTT-4.8.2-2].
func ValidTopicFilter(filter string) error { return packets.ValidTopicFilter(filter) }

// TopicMatches reports whether the (valid, unshared) filter matches the
// topic name, with the rules for '+', '#' and $-topics [MQTT-4.7.2-1].
func TopicMatches(filter, topic string) bool { return topics.Matches(filter, topic) }
