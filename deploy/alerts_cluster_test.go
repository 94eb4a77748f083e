package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// alertCase is one `promtool test rules` case: input series (Prometheus
// expanding notation, one sample a minute), and at evalTime the alerts
// named alert that fire, by their labels (none: it must not fire).
type alertCase struct {
	name     string
	series   map[string]string // series selector -> values
	evalTime string
	alert    string
	firing   []map[string]string // each firing alert's labels but alertname
}

// Series labels every input series carries: the scrape's.
const (
	inst0 = `instance="bridge-1:8080",job="mqtt-kafka-bridge"`
	inst1 = `instance="bridge-2:8080",job="mqtt-kafka-bridge"`
)

// clusterAlertCases drive the cluster rules of alerts.yml (issue 13:
// a replica down, inbox lag, hand-over failures, wills fired late, a
// replica still catching up) with synthetic series: each fires on the
// condition it names and stays silent on its healthy twin.
var clusterAlertCases = []alertCase{
	{
		name: "replica down: heartbeat 40 s old and growing, not stopping",
		series: map[string]string{
			`mqtt_bridge_cluster_replica_heartbeat_age_seconds{` + inst0 + `,replica="bridge-3"}`:  "40+60x10",
			`mqtt_bridge_cluster_replica_state{` + inst0 + `,replica="bridge-3",state="stale"}`:    "1x10",
			`mqtt_bridge_cluster_replica_state{` + inst0 + `,replica="bridge-3",state="stopping"}`: "0x10",
		},
		evalTime: "3m", alert: "MQTTBridgeClusterReplicaStale",
		firing: []map[string]string{{"replica": "bridge-3", "severity": "critical"}},
	},
	{
		name: "replica stopped on purpose (scale-down): no alert",
		series: map[string]string{
			`mqtt_bridge_cluster_replica_heartbeat_age_seconds{` + inst0 + `,replica="bridge-3"}`:  "40+60x10",
			`mqtt_bridge_cluster_replica_state{` + inst0 + `,replica="bridge-3",state="stopping"}`: "1x10",
		},
		evalTime: "3m", alert: "MQTTBridgeClusterReplicaStale",
	},
	{
		name: "wills late: a stale replica still owns 5 online sessions for 4 minutes",
		series: map[string]string{
			`mqtt_bridge_cluster_replica_sessions{` + inst0 + `,replica="bridge-3",state="online"}`: "5x10",
			`mqtt_bridge_cluster_replica_sessions{` + inst1 + `,replica="bridge-3",state="online"}`: "5x10",
			`mqtt_bridge_cluster_replica_state{` + inst0 + `,replica="bridge-3",state="stale"}`:     "1x10",
			`mqtt_bridge_cluster_replica_state{` + inst1 + `,replica="bridge-3",state="stale"}`:     "1x10",
			`mqtt_bridge_cluster_replica_sessions{` + inst0 + `,replica="bridge-1",state="online"}`: "7x10",
			`mqtt_bridge_cluster_replica_state{` + inst0 + `,replica="bridge-1",state="alive"}`:     "1x10",
		},
		evalTime: "4m", alert: "MQTTBridgeClusterWillsLate",
		firing: []map[string]string{{"replica": "bridge-3", "severity": "critical"}},
	},
	{
		name: "wills on time: the janitor took the dead replica's sessions offline within a minute",
		series: map[string]string{
			`mqtt_bridge_cluster_replica_sessions{` + inst0 + `,replica="bridge-3",state="online"}`: "5 0x10",
			`mqtt_bridge_cluster_replica_state{` + inst0 + `,replica="bridge-3",state="stale"}`:     "1x10",
		},
		evalTime: "5m", alert: "MQTTBridgeClusterWillsLate",
	},
	{
		name: "no janitor: no ready replica holds the role for 3 minutes",
		series: map[string]string{
			`mqtt_bridge_cluster_janitor_held{` + inst0 + `}`: "0x10",
			`mqtt_bridge_cluster_janitor_held{` + inst1 + `}`: "0x10",
			`mqtt_bridge_cluster_ready{` + inst0 + `}`:        "1x10",
			`mqtt_bridge_cluster_ready{` + inst1 + `}`:        "1x10",
		},
		evalTime: "3m", alert: "MQTTBridgeClusterNoJanitor",
		firing: []map[string]string{{"severity": "warning"}},
	},
	{
		name: "one janitor: no alert",
		series: map[string]string{
			`mqtt_bridge_cluster_janitor_held{` + inst0 + `}`: "1x10",
			`mqtt_bridge_cluster_janitor_held{` + inst1 + `}`: "0x10",
			`mqtt_bridge_cluster_ready{` + inst0 + `}`:        "1x10",
			`mqtt_bridge_cluster_ready{` + inst1 + `}`:        "1x10",
		},
		evalTime: "3m", alert: "MQTTBridgeClusterNoJanitor",
	},
	{
		name: "hand-over failures: two CONNECTs stopped waiting for the old owner",
		series: map[string]string{
			`mqtt_bridge_cluster_handover_timeouts_total{` + inst0 + `}`:       "0 0 1 2 2 2",
			`mqtt_bridge_cluster_handover_fence_timeouts_total{` + inst0 + `}`: "0x5",
			`mqtt_bridge_cluster_handover_timeouts_total{` + inst1 + `}`:       "0x5",
			`mqtt_bridge_cluster_handover_fence_timeouts_total{` + inst1 + `}`: "0x5",
		},
		evalTime: "4m", alert: "MQTTBridgeClusterHandoverFailures",
		firing: []map[string]string{{"instance": "bridge-1:8080", "severity": "warning"}},
	},
	{
		name: "hand-over sent without every fence",
		series: map[string]string{
			`mqtt_bridge_cluster_handover_timeouts_total{` + inst1 + `}`:       "0x5",
			`mqtt_bridge_cluster_handover_fence_timeouts_total{` + inst1 + `}`: "0 1 1 1 1 1",
		},
		evalTime: "3m", alert: "MQTTBridgeClusterHandoverFailures",
		firing: []map[string]string{{"instance": "bridge-2:8080", "severity": "warning"}},
	},
	{
		name: "hand-overs all in time: no alert",
		series: map[string]string{
			`mqtt_bridge_cluster_handover_timeouts_total{` + inst0 + `}`:       "0x20",
			`mqtt_bridge_cluster_handover_fence_timeouts_total{` + inst0 + `}`: "0x20",
		},
		evalTime: "15m", alert: "MQTTBridgeClusterHandoverFailures",
	},
	{
		name: "claims failing for 6 minutes",
		series: map[string]string{
			`mqtt_bridge_cluster_claims_total{` + inst0 + `,result="failed"}`: "0+30x20",
			`mqtt_bridge_cluster_claims_total{` + inst0 + `,result="won"}`:    "0+300x20",
		},
		evalTime: "12m", alert: "MQTTBridgeClusterClaimsFailing",
		firing: []map[string]string{{"instance": "bridge-1:8080", "severity": "critical"}},
	},
	{
		name: "inbox lag: 3 copies/s produced, 1/s applied, for 25 minutes",
		series: map[string]string{
			`mqtt_bridge_cluster_copies_total{` + inst0 + `}`:       "0+180x30",
			`mqtt_bridge_cluster_copy_errors_total{` + inst0 + `}`:  "0x30",
			`mqtt_bridge_cluster_inbox_copies_total{` + inst1 + `}`: "0+60x30",
		},
		evalTime: "25m", alert: "MQTTBridgeClusterInboxLag",
		firing: []map[string]string{{"severity": "warning"}},
	},
	{
		name: "inboxes keeping up (copies applied as produced, failed copies not waiting): no alert",
		series: map[string]string{
			`mqtt_bridge_cluster_copies_total{` + inst0 + `}`:       "0+180x30",
			`mqtt_bridge_cluster_copy_errors_total{` + inst0 + `}`:  "0+60x30",
			`mqtt_bridge_cluster_inbox_copies_total{` + inst1 + `}`: "0+120x30",
		},
		evalTime: "25m", alert: "MQTTBridgeClusterInboxLag",
	},
	{
		name: "catch-up stuck: catching up with 500 records left after 16 minutes",
		series: map[string]string{
			`mqtt_bridge_cluster_state{` + inst0 + `,state="catching_up"}`:          "1x20",
			`mqtt_bridge_cluster_state{` + inst0 + `,state="ready"}`:                "0x20",
			`mqtt_bridge_cluster_table_lag_records{` + inst0 + `,table="sessions"}`: "500x20",
			`mqtt_bridge_cluster_table_lag_records{` + inst0 + `,table="retained"}`: "0x20",
			`mqtt_bridge_cluster_state{` + inst1 + `,state="catching_up"}`:          "0x20",
			`mqtt_bridge_cluster_table_lag_records{` + inst1 + `,table="sessions"}`: "0x20",
		},
		evalTime: "16m", alert: "MQTTBridgeClusterCatchUpStuck",
		firing: []map[string]string{{"instance": "bridge-1:8080", "severity": "critical"}},
	},
	{
		name: "catch-up done after 3 minutes: no alert",
		series: map[string]string{
			`mqtt_bridge_cluster_state{` + inst0 + `,state="catching_up"}`:          "1 1 1 0x20",
			`mqtt_bridge_cluster_table_lag_records{` + inst0 + `,table="sessions"}`: "500 300 100 0x20",
		},
		evalTime: "16m", alert: "MQTTBridgeClusterCatchUpStuck",
	},
}

// TestClusterAlertsFire runs `promtool test rules` over the shipped
// alerts.yml with clusterAlertCases. Annotations are left out of the
// copy the cases run against, so each case compares labels only.
// promtool is required in CI (integration/deps.sh installs it); locally a
// missing promtool skips.
func TestClusterAlertsFire(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found (CI=true requires it): %v", err)
		}
		t.Skip("promtool not installed")
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "alerts.yml")
	if err := os.WriteFile(rules, alertsWithoutAnnotations(t), 0o644); err != nil {
		t.Fatal(err)
	}
	type expAlert struct {
		Labels map[string]string `yaml:"exp_labels"`
	}
	type ruleTest struct {
		EvalTime  string     `yaml:"eval_time"`
		AlertName string     `yaml:"alertname"`
		ExpAlerts []expAlert `yaml:"exp_alerts"`
	}
	type series struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	type test struct {
		Name       string     `yaml:"name"`
		Interval   string     `yaml:"interval"`
		Input      []series   `yaml:"input_series"`
		AlertTests []ruleTest `yaml:"alert_rule_test"`
	}
	var tests []test
	for _, c := range clusterAlertCases {
		tc := test{Name: c.name, Interval: "1m"}
		for _, k := range sortedKeys(c.series) {
			tc.Input = append(tc.Input, series{k, c.series[k]})
		}
		rt := ruleTest{EvalTime: c.evalTime, AlertName: c.alert, ExpAlerts: []expAlert{}}
		for _, l := range c.firing {
			rt.ExpAlerts = append(rt.ExpAlerts, expAlert{l})
		}
		tc.AlertTests = []ruleTest{rt}
		tests = append(tests, tc)
	}
	doc, err := yaml.Marshal(map[string]any{
		"rule_files":          []string{rules},
		"evaluation_interval": "1m",
		"tests":               tests,
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cluster_alerts_test.yml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s\ntest file:\n%s", err, out, doc)
	}
	t.Logf("promtool test rules: %d cases: %s", len(tests), strings.TrimSpace(string(out)))
}

// alertsWithoutAnnotations is deploy/prometheus/alerts.yml with every
// rule's annotations removed.
func alertsWithoutAnnotations(t *testing.T) []byte {
	t.Helper()
	var doc struct {
		Groups []struct {
			Name  string           `yaml:"name"`
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, filepath.Join(root, "deploy", "prometheus", "alerts.yml"), &doc)
	n := 0
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			delete(r, "annotations")
			n++
		}
	}
	if n == 0 {
		t.Fatal("alerts.yml: no rules")
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(fmt.Errorf("alerts.yml without annotations: %w", err))
	}
	return out
}
