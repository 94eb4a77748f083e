package kafka

import "testing"

// The decision that hybrid.go took by comparing reason strings: only a
// spill that says something about Kafka makes the drainer probe first.
func TestSpillReasonKafkaTrouble(t *testing.T) {
	tests := []struct {
		r    spillReason
		name string
		want bool
	}{
		{spillAckSpool, "ack_spool", false},
		{spillNotConnected, "not_connected", true},
		{spillKafkaSlow, "kafka_slow", true},
		{spillKafkaError, "kafka_error", true},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.name {
			t.Errorf("spillReason(%d).String() = %q; want %q", tt.r, got, tt.name)
		}
		if got := tt.r.kafkaTrouble(); got != tt.want {
			t.Errorf("%s.kafkaTrouble() = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestErrKindLabelsAndPermanence(t *testing.T) {
	perm := map[string]bool{KindTooLarge: true, KindInvalidTopic: true, KindNotAuthorized: true}
	seen := map[string]bool{}
	for k := kindNone + 1; k < numKinds; k++ {
		name := k.String()
		if name == "" || seen[name] {
			t.Errorf("errKind(%d).String() = %q; want a distinct non-empty label", k, name)
		}
		seen[name] = true
		if got := k.permanent(); got != perm[name] {
			t.Errorf("%s.permanent() = %v; want %v", name, got, perm[name])
		}
	}
	if len(seen) != 8 || kindNone.String() != "" {
		t.Errorf("kinds = %v, kindNone = %q; want the 8 Kind labels and \"\"", seen, kindNone.String())
	}
	var c kindCounters
	c.add(kindOf(ErrDeliveryTimeout))
	if s := c.snapshot(); len(s) != 8 || s[KindTimeout] != 1 {
		t.Errorf("snapshot() = %v; want all 8 kinds, timeout=1", s)
	}
}

func TestDropReasonLabels(t *testing.T) {
	var c dropCounters
	c.add(dropShedAckNone)
	s := c.snapshot()
	want := map[string]uint64{DropShedQoS0: 0, DropShedAckNone: 1, DropUndecodable: 0}
	if len(s) != len(want) {
		t.Fatalf("snapshot() = %v; want %v", s, want)
	}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("snapshot()[%q] = %d; want %d", k, s[k], v)
		}
	}
}
