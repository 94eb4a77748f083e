package mapping

import (
	"slices"
	"testing"
)

func TestExplain(t *testing.T) {
	c := validConfig()
	c.Uplink = append([]UplinkRule{{Name: "status", MQTTTopic: "devices/+/status", KafkaTopic: "iot.status"}}, c.Uplink...)
	c.Uplink = append(c.Uplink, UplinkRule{Name: "any", MQTTTopic: "+/#", KafkaTopic: "iot.any"})
	r := mustCompile(t, c)

	ex := r.Explain(&Publish{Topic: "devices/d1/telemetry", ClientID: "c1", ReceivedAt: receivedAt})
	if ex.Outcome != Matched || ex.Rule != "telemetry" || ex.Record.Topic != "iot.telemetry" || string(ex.Record.Key) != "d1" {
		t.Fatalf("Explain = %v %q topic %q key %q; want matched by telemetry", ex.Outcome, ex.Rule, ex.Record.Topic, ex.Record.Key)
	}
	if want := []Capture{{"device", "d1"}}; !slices.Equal(ex.Captures, want) {
		t.Errorf("captures = %q; want %q", ex.Captures, want)
	}
	want := []Check{
		{Rule: "status", Filter: "devices/+/status", Why: `level 3 is "telemetry", not "status"`},
		{Rule: "telemetry", Filter: "devices/{device}/telemetry/#", Matched: true, Why: "matched"},
		{Rule: "kinds", Filter: "devices/{device}/{kind}", Matched: true, Why: `matches, but rule "telemetry" comes first`},
		{Rule: "any", Filter: "+/#", Matched: true, Why: `matches, but rule "telemetry" comes first`},
	}
	if !slices.Equal(ex.Checks, want) {
		t.Errorf("checks =\n%+v\nwant\n%+v", ex.Checks, want)
	}

	ex = r.Explain(&Publish{Topic: "$SYS/x"})
	if ex.Outcome != Unmatched || ex.Rule != "" || len(ex.Captures) != 0 {
		t.Fatalf("Explain($SYS/x) = %v %q; want unmatched", ex.Outcome, ex.Rule)
	}
	whys := []string{
		`level 1 is "$SYS", not "devices"`,
		`level 1 is "$SYS", not "devices"`,
		`level 1 is "$SYS", not "devices"`,
		"a filter starting with a wildcard does not match a topic starting with '$'",
	}
	for i, c := range ex.Checks {
		if c.Matched || c.Why != whys[i] {
			t.Errorf("check %d = %+v; want not matched, %q", i, c, whys[i])
		}
	}

	ex = r.Explain(&Publish{Topic: "devices"})
	if got, want := ex.Checks[0].Why, "the topic has 1 levels; the filter needs at least 3"; got != want {
		t.Errorf("why = %q; want %q", got, want)
	}
	ex = r.Explain(&Publish{Topic: "devices/a/b/c"})
	if got, want := ex.Checks[2].Why, "the topic has more than 3 levels and the filter does not end in '#'"; got != want {
		t.Errorf("why = %q; want %q", got, want)
	}
}
