package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

// TestExplainPartitioner: explain shows the partition the configured
// partitioner picks (kafka.producer.partitioner), as the producer would.
func TestExplainPartitioner(t *testing.T) {
	shipped := filepath.Join("..", "..", "config.yaml")
	for _, tc := range []struct {
		partitioner string
		sarama      sarama.Partitioner
	}{
		{"murmur2", sarama.NewMurmur2Partitioner("t")},
		{"fnv", sarama.NewHashPartitioner("t")},
	} {
		for _, device := range []string{"d1", "device-42", "sensor-7", "x"} {
			want, err := tc.sarama.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(device)}, 6)
			if err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run([]string{"explain", "--config", shipped, "--set", "kafka.producer.partitioner=" + tc.partitioner,
				"--partitions", "6", "devices/" + device + "/telemetry"}, &out, &errb)
			line := fmt.Sprintf("partition:   %d of 6", want)
			if code != 0 || !strings.Contains(out.String(), line) {
				t.Errorf("%s, key %q: exit %d, output:\n%s\nwant a line %q (stderr %q)", tc.partitioner, device, code, out.String(), line, errb.String())
			}
		}
	}
}
