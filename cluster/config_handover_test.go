package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestConfigHandoverTimeout(t *testing.T) {
	c := DefaultConfig()
	if c.HandoverTimeout != 10*time.Second {
		t.Fatalf("default handover_timeout = %v; want 10s", c.HandoverTimeout)
	}
	for _, v := range []time.Duration{-time.Second, 50 * time.Millisecond, 11 * time.Minute} {
		c.HandoverTimeout = v
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cluster.handover_timeout") {
			t.Fatalf("Validate() with handover_timeout %v = %v; want an error naming cluster.handover_timeout", v, err)
		}
	}
	c.HandoverTimeout = 0 // off
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() with handover_timeout 0 (off) = %v; want nil", err)
	}
}
