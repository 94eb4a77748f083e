package spool

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string // substring; "" means valid
	}{
		{"default", func(*Config) {}, ""},
		{"interval", func(c *Config) { c.Fsync = FsyncInterval }, ""},
		{"never", func(c *Config) { c.Fsync = FsyncNever }, ""},
		{"empty dir", func(c *Config) { c.Dir = "" }, "kafka.spool.dir"},
		{"tiny segment", func(c *Config) { c.SegmentBytes = 100 }, "kafka.spool.segment_bytes"},
		{"huge segment", func(c *Config) { c.SegmentBytes = 2 << 30; c.QuotaBytes = 8 << 30 }, "kafka.spool.segment_bytes"},
		{"quota below two segments", func(c *Config) { c.QuotaBytes = c.SegmentBytes*2 - 1 }, "kafka.spool.quota_bytes"},
		{"quota of two segments", func(c *Config) { c.QuotaBytes = c.SegmentBytes * 2 }, ""},
		{"bad fsync", func(c *Config) { c.Fsync = "sometimes" }, "kafka.spool.fsync"},
		{"zero interval", func(c *Config) { c.Fsync = FsyncInterval; c.FsyncInterval = 0 }, "kafka.spool.fsync_interval"},
		{"zero interval ignored for always", func(c *Config) { c.FsyncInterval = 0 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v; want an error starting with %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Enabled || c.QuotaBytes != 1<<30 || c.SegmentBytes != 16<<20 || c.Fsync != FsyncAlways || c.FsyncInterval != 100*time.Millisecond {
		t.Fatalf("DefaultConfig() = %+v; want disabled, 1 GiB quota, 16 MiB segments, fsync always, 100ms", c)
	}
}
