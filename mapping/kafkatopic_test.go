package mapping

import (
	"strings"
	"testing"
)

func TestValidKafkaTopic(t *testing.T) {
	tests := []struct {
		topic string
		ok    bool
	}{
		{"iot.telemetry", true},
		{"a", true},
		{"A-Z_0.9", true},
		{"...", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"iot/telemetry", false},
		{"iot telemetry", false},
		{"iöt", false},
	}
	for _, tt := range tests {
		if err := validKafkaTopic(tt.topic); (err == nil) != tt.ok {
			t.Errorf("validKafkaTopic(%q) = %v; want ok=%v", tt.topic, err, tt.ok)
		}
	}
}
