package bridge

import (
	"os"
	"path/filepath"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestReloadReturnsItsErrorOnce: a refused reload is counted and returned,
// not also logged: the caller (SIGHUP in main) logs it, once.
func TestReloadReturnsItsErrorOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	good := "admin: {address: \"\"}\nkafka: {bootstrap_servers: [\"127.0.0.1:1\"]}\nmqtt: {listeners: {tcp: {address: \"127.0.0.1:0\"}}}\n"
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	b, err := New(cfg, Options{Logger: zap.New(core), ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(good+"mqtt_typo: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err == nil {
		t.Fatal("Reload of a bad file = nil; want an error")
	}
	var m dto.Metric
	if err := b.metrics.reloads.WithLabelValues("refused").Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Errorf("config_reloads_total{result=refused} = %v (%v); want 1", m.GetCounter().GetValue(), err)
	}
	if errs := logs.FilterLevelExact(zapcore.ErrorLevel); errs.Len() != 0 {
		t.Errorf("Reload logged %d error entries (first %q); want none: it returns the error and its caller logs it", errs.Len(), errs.All()[0].Message)
	}
}
