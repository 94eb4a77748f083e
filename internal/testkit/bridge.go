package testkit

import (
	"testing"

	"github.com/iotbridge/mqtt-kafka-bridge/mapping"
)

// TelemetryMapping is the mapping of the bridge tests: devices/{device}/telemetry
// goes to iot.telemetry keyed by the device, anything else is dropped, and
// dead letters go to dlq ("" = none).
func TelemetryMapping(dlq string) mapping.Config {
	return mapping.Config{
		Uplink:          []mapping.UplinkRule{{Name: "telemetry", MQTTTopic: "devices/{device}/telemetry", KafkaTopic: "iot.telemetry", Key: "{device}"}},
		Unmatched:       mapping.UnmatchedPolicy{Action: mapping.UnmatchedDrop},
		DeadLetterTopic: dlq,
	}
}

// AdminBridge is a bridge with its admin listener (*bridge.Bridge).
type AdminBridge[F Front] interface {
	Bridge[F]
	AdminAddr() string
}

// APIBridge runs a bridge for the admin API's tests and returns it with the
// API's base URL. cfg is a bridge.Config; before mutate, its MQTT TCP
// listener and admin listener are set to loopback port 0, anonymous MQTT
// is allowed, the data directory is the test's, max_packet_size is 64 KiB,
// Kafka is unreachable (127.0.0.1:1) and the mapping is TelemetryMapping("").
// build makes the bridge (bridge.New with the test's options).
func APIBridge[C any, B AdminBridge[F], F Front](t testing.TB, cfg C, mutate func(*C), build func(C) (B, error)) (B, string) {
	t.Helper()
	Set(t, &cfg, "mqtt.listeners.tcp.address", "127.0.0.1:0")
	Set(t, &cfg, "mqtt.auth.allow_anonymous", true)
	Set(t, &cfg, "mqtt.data_dir", t.TempDir())
	Set(t, &cfg, "mqtt.max_packet_size", 64<<10)
	Set(t, &cfg, "admin.address", "127.0.0.1:0")
	Set(t, &cfg, "kafka.bootstrap_servers", []string{"127.0.0.1:1"})
	Set(t, &cfg, "mapping", TelemetryMapping(""))
	if mutate != nil {
		mutate(&cfg)
	}
	b, err := build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	RunBridge(t, b)
	return b, AdminURL(t, b)
}
