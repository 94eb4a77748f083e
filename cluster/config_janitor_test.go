package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestConfigJanitorSessionTimeout(t *testing.T) {
	c := DefaultConfig()
	if c.JanitorSessionTimeout != 6*time.Second {
		t.Fatalf("default janitor_session_timeout = %v; want 6s", c.JanitorSessionTimeout)
	}
	for _, v := range []time.Duration{0, 999 * time.Millisecond, 31 * time.Minute} {
		c.JanitorSessionTimeout = v
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cluster.janitor_session_timeout") {
			t.Fatalf("Validate() with janitor_session_timeout %v = %v; want an error naming cluster.janitor_session_timeout", v, err)
		}
	}
}
