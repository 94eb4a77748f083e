package mqttfront

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/mqttfront/store"
)

func TestStoreConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		mutate func(*StoreConfig)
		want   string // "" = valid
	}{
		{func(*StoreConfig) {}, ""},
		{func(c *StoreConfig) { c.CompactOnStartFreeRatio = 0 }, ""},
		{func(c *StoreConfig) { c.CompactOnStartMinBytes = 0 }, ""},
		{func(c *StoreConfig) { c.CompactOnStartFreeRatio = -0.1 }, "mqtt.store.compact_on_start_free_ratio"},
		{func(c *StoreConfig) { c.CompactOnStartFreeRatio = 1 }, "mqtt.store.compact_on_start_free_ratio"},
		{func(c *StoreConfig) { c.CompactOnStartFreeRatio = math.NaN() }, "mqtt.store.compact_on_start_free_ratio"},
		{func(c *StoreConfig) { c.CompactOnStartMinBytes = -1 }, "mqtt.store.compact_on_start_min_bytes"},
	} {
		cfg := DefaultConfig()
		tt.mutate(&cfg.Store)
		err := cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Validate(%+v) = %v; want nil", cfg.Store, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%+v) = %v; want an error naming %s", cfg.Store, err, tt.want)
		}
	}
}

// bloatStore leaves dir/mqtt.db with 8 MiB of drained queues and one kept
// session, and returns its size.
func bloatStore(t *testing.T, dir string) int64 {
	t.Helper()
	path := filepath.Join(dir, "mqtt.db")
	st, err := store.OpenOptions(path, nil, store.Options{NoSync: true, NoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1<<20)
	for i := range 8 {
		id := fmt.Sprintf("gone-%d", i)
		if err := st.PutSession(&store.Session{ClientID: id, Version: 4, ExpiryInterval: 60}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutMessage(id, 1, &store.Message{Topic: "t", Payload: payload, QoS: 1}); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteSession(id); err != nil {
			t.Fatal(err)
		}
	}
	keep := &store.Session{ClientID: "kept", Version: 4, ExpiryInterval: 3600, Subscriptions: []store.Subscription{{Filter: "k/#", QoS: 1}}}
	if err := st.PutSession(keep); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestStartCompactsStore: mqtt.store.compact_on_start_* reach the store,
// the result shows in Stats, and the kept session is restored.
func TestStartCompactsStore(t *testing.T) {
	for _, ratio := range []float64{0, 0.5} {
		t.Run(fmt.Sprint("ratio=", ratio), func(t *testing.T) {
			dir := t.TempDir()
			before := bloatStore(t, dir)
			cfg := testConfig(dir)
			cfg.Store = StoreConfig{CompactOnStartFreeRatio: ratio, CompactOnStartMinBytes: 1 << 20}
			ts := runServer(t, cfg, nil)
			st := ts.Stats()
			if ratio == 0 {
				if st.StoreFileBytes != before || st.StoreReclaimedBytes != 0 {
					t.Errorf("ratio 0: file %d bytes, reclaimed %d; want %d untouched", st.StoreFileBytes, st.StoreReclaimedBytes, before)
				}
			} else if st.StoreFileBytes >= before/4 || st.StoreReclaimedBytes != before-st.StoreFileBytes {
				t.Errorf("file %d bytes (was %d), reclaimed %d; want compacted", st.StoreFileBytes, before, st.StoreReclaimedBytes)
			}
			if subs := ts.index.ClientSubs("kept"); len(subs) != 1 || subs[0].Filter != "k/#" {
				t.Errorf("restored subscriptions of kept = %+v; want k/#", subs)
			}
		})
	}
}
