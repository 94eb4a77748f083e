package mapping

import (
	"errors"
	"fmt"
)

// maxKafkaTopicLen is the longest topic name Kafka accepts.
const maxKafkaTopicLen = 249

// validKafkaTopic checks a Kafka topic name: 1..249 characters from
// [a-zA-Z0-9._-], and neither "." nor "..".
func validKafkaTopic(s string) error {
	switch {
	case s == "":
		return errors.New("empty Kafka topic")
	case len(s) > maxKafkaTopicLen:
		return fmt.Errorf("Kafka topic is %d characters; the limit is %d", len(s), maxKafkaTopicLen)
	case s == "." || s == "..":
		return fmt.Errorf("Kafka topic may not be %q", s)
	}
	if i := badKafkaChar(s); i >= 0 {
		return fmt.Errorf("Kafka topic %q: illegal character %q at offset %d (allowed: a-z A-Z 0-9 . _ -)", s, s[i], i)
	}
	return nil
}

// badKafkaChar returns the offset of the first byte of s that may not appear
// in a Kafka topic name, or -1.
func badKafkaChar(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return i
		}
	}
	return -1
}

// checkKafkaTemplate checks at load what can be checked of a Kafka topic
// template: a static one must be a legal name; a dynamic one must have legal
// literal characters and leave room for at least one character per
// placeholder.
func checkKafkaTemplate(t *template) error {
	if t.static() {
		return validKafkaTopic(t.literal())
	}
	placeholders := 0
	for _, s := range t.segs {
		if s.kind != segLiteral {
			placeholders++
			continue
		}
		if i := badKafkaChar(s.text); i >= 0 {
			return fmt.Errorf("illegal character %q in %q (allowed: a-z A-Z 0-9 . _ -)", s.text[i], t.raw)
		}
	}
	if n := t.literalLen() + placeholders; n > maxKafkaTopicLen {
		return fmt.Errorf("renders at least %d characters; the limit is %d", n, maxKafkaTopicLen)
	}
	return nil
}
