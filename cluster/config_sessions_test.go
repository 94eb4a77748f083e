package cluster

import (
	"strings"
	"testing"
)

func TestConfigMaxSessionRecordBytes(t *testing.T) {
	c := DefaultConfig()
	if c.MaxSessionRecordBytes != 900<<10 {
		t.Fatalf("default max_session_record_bytes = %d; want %d", c.MaxSessionRecordBytes, 900<<10)
	}
	for _, v := range []int{0, 4095, 64<<20 + 1} {
		c.MaxSessionRecordBytes = v
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cluster.max_session_record_bytes") {
			t.Fatalf("Validate() with max_session_record_bytes %d = %v; want an error naming cluster.max_session_record_bytes", v, err)
		}
	}
}
