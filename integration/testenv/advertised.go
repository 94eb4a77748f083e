package testenv

import (
	"path/filepath"
	"strconv"
	"testing"
)

// StartOwnKafkaAdvertised is StartOwnKafka for a broker that advertises
// 127.0.0.1:advertisedPort instead of its own port, so that clients, which
// follow the metadata's advertised listener after bootstrapping, reach it
// only through whatever listens there (a fault-injecting TCP proxy). The
// returned bootstrap is the broker's own address; stop and start keep its
// data, and the broker is stopped when the test ends.
func StartOwnKafkaAdvertised(t testing.TB, port, advertisedPort int) (bootstrap string, stop func(), start func()) {
	t.Helper()
	env := []string{
		"KAFKA_PORT=" + strconv.Itoa(port),
		"KAFKA_ADVERTISED_PORT=" + strconv.Itoa(advertisedPort),
		"KAFKA_DATA_DIR=" + filepath.Join(t.TempDir(), "kafka"),
	}
	start = func() {
		t.Helper()
		b, err := runScript(env, "start")
		if err != nil {
			t.Fatalf("StartOwnKafkaAdvertised: %v", err)
		}
		bootstrap = b
	}
	stop = func() {
		t.Helper()
		if _, err := runScript(env, "stop"); err != nil {
			t.Errorf("StartOwnKafkaAdvertised stop: %v", err)
		}
	}
	start()
	t.Cleanup(func() { _, _ = runScript(env, "stop") })
	return bootstrap, stop, start
}
