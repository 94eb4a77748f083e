// Package testenv gives integration tests a real Kafka: the shared broker of
// integration/kafka.sh, private brokers for fault tests, and small helpers to
// create topics and read records back. It never skips: if Kafka cannot be
// started, the test fails.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

var shared struct {
	once      sync.Once
	bootstrap string
	err       error
}

// RepoRoot is the repository root (found from this file's location).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func script() string { return filepath.Join(RepoRoot(), "integration", "kafka.sh") }

// Kafka returns the bootstrap address of the shared test broker: the one in
// $KAFKA_BOOTSTRAP if set, else the one `integration/kafka.sh start` runs
// (started once per process, reused across runs). It fails t if Kafka
// cannot be reached or started.
func Kafka(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		if b := os.Getenv("KAFKA_BOOTSTRAP"); b != "" {
			shared.bootstrap = b
			return
		}
		shared.bootstrap, shared.err = runScript(nil, "start")
	})
	if shared.err != nil {
		t.Fatalf("testenv.Kafka: %v", shared.err)
	}
	return shared.bootstrap
}

// runScript runs kafka.sh and returns its stdout's last line.
func runScript(env []string, args ...string) (string, error) {
	cmd := exec.Command(script(), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kafka.sh %s: %w\n%s", strings.Join(args, " "), err, errb.String())
	}
	lines := strings.Fields(out.String())
	if len(lines) == 0 {
		return "", nil
	}
	return lines[len(lines)-1], nil
}

// StartOwnKafka starts a private broker on port (controller on port+1) with
// a data dir under t.TempDir(), for tests that stop and restart Kafka. stop
// and start stop and restart it, keeping its data; the broker is stopped when
// the test ends.
func StartOwnKafka(t testing.TB, port int) (bootstrap string, stop func(), start func()) {
	t.Helper()
	env := []string{"KAFKA_PORT=" + strconv.Itoa(port), "KAFKA_DATA_DIR=" + filepath.Join(t.TempDir(), "kafka")}
	start = func() {
		t.Helper()
		b, err := runScript(env, "start")
		if err != nil {
			t.Fatalf("StartOwnKafka: %v", err)
		}
		bootstrap = b
	}
	stop = func() {
		t.Helper()
		if _, err := runScript(env, "stop"); err != nil {
			t.Errorf("StartOwnKafka stop: %v", err)
		}
	}
	start()
	t.Cleanup(func() { _, _ = runScript(env, "stop") })
	return bootstrap, stop, start
}

// CreateTopic creates topic with the given partitions (replication 1) and
// waits until its metadata shows them all with a leader.
func CreateTopic(t testing.TB, bootstrap, name string, partitions int32) {
	t.Helper()
	cfg := sarama.NewConfig()
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, cfg)
	if err != nil {
		t.Fatalf("CreateTopic %s: %v", name, err)
	}
	defer admin.Close()
	err = admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("CreateTopic %s: %v", name, err)
	}
	client, err := sarama.NewClient([]string{bootstrap}, cfg)
	if err != nil {
		t.Fatalf("CreateTopic %s: client: %v", name, err)
	}
	defer client.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := client.RefreshMetadata(name); err == nil {
			ps, err := client.Partitions(name)
			ready := err == nil && int32(len(ps)) == partitions
			for _, p := range ps {
				if _, err := client.Leader(name, p); err != nil {
					ready = false
				}
			}
			if ready {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("CreateTopic %s: partitions not ready after 30s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Consume reads n records from every partition of topic, starting at the
// oldest offset, and returns them in arrival order (so the records of one
// partition are in offset order). It fails t if fewer than n arrive within
// timeout.
func Consume(t testing.TB, bootstrap, topic string, n int, timeout time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	return ConsumeUntil(t, bootstrap, topic, timeout, func(got []*sarama.ConsumerMessage) bool { return len(got) >= n })
}

// ConsumeUntil reads topic from the oldest offset of every partition until
// done(records so far) is true, and returns the records in arrival order
// (offset order within a partition). It fails t after timeout.
func ConsumeUntil(t testing.TB, bootstrap, topic string, timeout time.Duration, done func([]*sarama.ConsumerMessage) bool) []*sarama.ConsumerMessage {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	c, err := sarama.NewConsumer([]string{bootstrap}, cfg)
	if err != nil {
		t.Fatalf("consume %s: %v", topic, err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatalf("consume %s: partitions: %v", topic, err)
	}
	out := make(chan *sarama.ConsumerMessage, 256)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	stop := func() { close(quit); wg.Wait() }
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			stop()
			t.Fatalf("consume %s/%d: %v", topic, p, err)
		}
		wg.Go(func() {
			defer pc.Close()
			for {
				select {
				case m := <-pc.Messages():
					select {
					case out <- m:
					case <-quit:
						return
					}
				case <-quit:
					return
				}
			}
		})
	}
	var got []*sarama.ConsumerMessage
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for !done(got) {
		select {
		case m := <-out:
			got = append(got, m)
		case <-timer.C:
			stop()
			t.Fatalf("consume %s: condition not met after %v (%d records read)", topic, timeout, len(got))
		}
	}
	stop()
	return got
}

// ConsumeAll reads every record of topic below the partitions' current high
// watermarks (duplicates included), failing t after timeout.
func ConsumeAll(t testing.TB, bootstrap, topic string, timeout time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	client, err := sarama.NewClient([]string{bootstrap}, sarama.NewConfig())
	if err != nil {
		t.Fatalf("ConsumeAll %s: %v", topic, err)
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		client.Close()
		t.Fatalf("ConsumeAll %s: partitions: %v", topic, err)
	}
	var n int64
	for _, p := range parts {
		newest, err1 := client.GetOffset(topic, p, sarama.OffsetNewest)
		oldest, err2 := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err := errors.Join(err1, err2); err != nil {
			client.Close()
			t.Fatalf("ConsumeAll %s/%d: offsets: %v", topic, p, err)
		}
		n += newest - oldest
	}
	client.Close()
	return Consume(t, bootstrap, topic, int(n), timeout)
}

// EndOffsets returns the high watermark of every partition of topic: the
// offset the next record will get. A test that must read a topic other runs
// also write (the shipped names the demo uses) captures them before it
// writes and reads only from there, never from the beginning: the broker may
// hold millions of records from `make run` or a benchmark.
func EndOffsets(t testing.TB, bootstrap, topic string) map[int32]int64 {
	t.Helper()
	client, err := sarama.NewClient([]string{bootstrap}, sarama.NewConfig())
	if err != nil {
		t.Fatalf("EndOffsets %s: %v", topic, err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatalf("EndOffsets %s: partitions: %v", topic, err)
	}
	ends := make(map[int32]int64, len(parts))
	for _, p := range parts {
		off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("EndOffsets %s/%d: %v", topic, p, err)
		}
		ends[p] = off
	}
	return ends
}
