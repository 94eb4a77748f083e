package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/iotbridge/mqtt-kafka-bridge/bridge"
)

var k8sDir = filepath.Join(root, "deploy", "kubernetes")

type k8sMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type k8sObject struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   k8sMeta           `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	Spec       yaml.Node         `yaml:"spec"`
	file       string
}

type httpProbe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"` // a name or a number
	} `yaml:"httpGet"`
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Env   []struct {
		Name      string     `yaml:"name"`
		Value     *string    `yaml:"value"`
		ValueFrom *envSource `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *httpProbe `yaml:"livenessProbe"`
	ReadinessProbe *httpProbe `yaml:"readinessProbe"`
	StartupProbe   *httpProbe `yaml:"startupProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	VolumeMounts []volumeMount `yaml:"volumeMounts"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
}

type statefulSetSpec struct {
	Replicas       int    `yaml:"replicas"`
	ServiceName    string `yaml:"serviceName"`
	UpdateStrategy struct {
		Type string `yaml:"type"`
	} `yaml:"updateStrategy"`
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	Template struct {
		Metadata k8sMeta `yaml:"metadata"`
		Spec     struct {
			TerminationGracePeriodSeconds int       `yaml:"terminationGracePeriodSeconds"`
			Affinity                      *affinity `yaml:"affinity"`
			SecurityContext               struct {
				RunAsNonRoot bool `yaml:"runAsNonRoot"`
				RunAsUser    int  `yaml:"runAsUser"`
				FSGroup      int  `yaml:"fsGroup"`
			} `yaml:"securityContext"`
			Containers []container `yaml:"containers"`
			Volumes    []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	} `yaml:"template"`
	VolumeClaimTemplates []struct {
		Metadata k8sMeta `yaml:"metadata"`
		Spec     struct {
			Resources struct {
				Requests map[string]string `yaml:"requests"`
			} `yaml:"resources"`
		} `yaml:"spec"`
	} `yaml:"volumeClaimTemplates"`
}

type affinity struct {
	PodAntiAffinity *struct {
		Preferred []struct {
			Weight int          `yaml:"weight"`
			Term   affinityTerm `yaml:"podAffinityTerm"`
		} `yaml:"preferredDuringSchedulingIgnoredDuringExecution"`
		Required []affinityTerm `yaml:"requiredDuringSchedulingIgnoredDuringExecution"`
	} `yaml:"podAntiAffinity"`
}

type affinityTerm struct {
	TopologyKey   string `yaml:"topologyKey"`
	LabelSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"labelSelector"`
}

// envSource is an env entry's valueFrom; only the downward API's fieldRef
// is read (secretKeyRef, resourceFieldRef: present, not read).
type envSource struct {
	FieldRef *struct {
		FieldPath string `yaml:"fieldPath"`
	} `yaml:"fieldRef"`
}

// fieldPath is the downward API field the value comes from ("" when it
// comes from elsewhere).
func (e *envSource) fieldPath() string {
	if e == nil || e.FieldRef == nil {
		return ""
	}
	return e.FieldRef.FieldPath
}

type serviceSpec struct {
	Type      string            `yaml:"type"`
	ClusterIP string            `yaml:"clusterIP"`
	Selector  map[string]string `yaml:"selector"`
	Ports     []struct {
		Name       string    `yaml:"name"`
		Port       int       `yaml:"port"`
		TargetPort yaml.Node `yaml:"targetPort"`
	} `yaml:"ports"`
}

type pdbSpec struct {
	MaxUnavailable *int `yaml:"maxUnavailable"`
	MinAvailable   *int `yaml:"minAvailable"`
	Selector       struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
}

type kustomization struct {
	Resources []string `yaml:"resources"`
}

// k8sObjects parses every manifest kustomization.yaml lists, each document
// in each file.
func k8sObjects(t *testing.T) []k8sObject {
	t.Helper()
	var k kustomization
	readYAML(t, filepath.Join(k8sDir, "kustomization.yaml"), &k)

	// Every manifest in the directory is listed, and everything listed exists.
	var onDisk []string
	for _, f := range yamlFiles(t, k8sDir) {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			onDisk = append(onDisk, b)
		}
	}
	listed := slices.Clone(k.Resources)
	sort.Strings(listed)
	if !slices.Equal(listed, onDisk) {
		t.Errorf("kustomization.yaml resources = %v; the directory holds %v", listed, onDisk)
	}

	var out []k8sObject
	for _, r := range k.Resources {
		b, err := os.ReadFile(filepath.Join(k8sDir, r))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if o.Kind == "" {
				continue // an empty document
			}
			o.file = r
			if o.APIVersion == "" || o.Metadata.Name == "" {
				t.Errorf("%s: %s without apiVersion or metadata.name", r, o.Kind)
			}
			if o.Metadata.Namespace != "" {
				t.Errorf("%s: %s %s sets namespace %q; the manifests are namespace-agnostic", r, o.Kind, o.Metadata.Name, o.Metadata.Namespace)
			}
			out = append(out, o)
		}
	}
	return out
}

func decodeSpec(t *testing.T, o k8sObject, v any) {
	t.Helper()
	if err := o.Spec.Decode(v); err != nil {
		t.Fatalf("%s: %s %s spec: %v", o.file, o.Kind, o.Metadata.Name, err)
	}
}

func byKind(objs []k8sObject, kind string) []k8sObject {
	var out []k8sObject
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesManifests(t *testing.T) {
	objs := k8sObjects(t)
	for _, kind := range []string{"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget"} {
		if len(byKind(objs, kind)) == 0 {
			t.Fatalf("no %s in deploy/kubernetes", kind)
		}
	}
	sts := byKind(objs, "StatefulSet")
	if len(sts) != 1 {
		t.Fatalf("%d StatefulSets; want 1", len(sts))
	}
	var ss statefulSetSpec
	decodeSpec(t, sts[0], &ss)
	pod := ss.Template.Spec
	podLabels := ss.Template.Metadata.Labels
	if !selects(ss.Selector.MatchLabels, podLabels) {
		t.Errorf("StatefulSet selector %v does not select its pods %v", ss.Selector.MatchLabels, podLabels)
	}
	// Issue 13: three replicas in cluster mode by default.
	if ss.Replicas != 3 {
		t.Errorf("replicas = %d; want 3 by default (cluster mode; see deploy/README.md, \"Scaling\")", ss.Replicas)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers; want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	df := parseDockerfile(t)

	// The configuration: the ConfigMap's config.yaml, mounted where the
	// image's ENTRYPOINT reads it, loads and validates with the pod's
	// BRIDGE_* variables.
	var cmName string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && slices.ContainsFunc(c.VolumeMounts, func(m volumeMount) bool {
			return m.Name == v.Name && m.MountPath == path.Dir(df.configPath)
		}) {
			cmName = v.ConfigMap.Name
		}
	}
	var cfgText string
	for _, o := range byKind(objs, "ConfigMap") {
		if o.Metadata.Name == cmName {
			cfgText = o.Data[path.Base(df.configPath)]
		}
	}
	if cfgText == "" {
		t.Fatalf("no ConfigMap with %s mounted at %s", path.Base(df.configPath), path.Dir(df.configPath))
	}
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	// The env as the first pod sees it: values, and the pod name where a
	// variable takes it from the downward API.
	podName := sts[0].Metadata.Name + "-0"
	replicaIDFromPodName := false
	var envNames, env []string
	for _, e := range c.Env {
		envNames = append(envNames, e.Name)
		if strings.HasPrefix(e.Name, bridge.EnvPrefix) && e.Value != nil {
			env = append(env, e.Name+"="+*e.Value)
		}
		if strings.HasPrefix(e.Name, bridge.EnvPrefix) && e.ValueFrom.fieldPath() == "metadata.name" {
			env = append(env, e.Name+"="+podName)
			replicaIDFromPodName = replicaIDFromPodName || e.Name == bridge.EnvPrefix+"CLUSTER_REPLICA_ID"
		}
		if e.Value == nil && e.ValueFrom == nil {
			t.Errorf("env %s has neither value nor valueFrom", e.Name)
		}
	}
	checkEnvNames(t, "StatefulSet env", envNames)
	cfg, err := bridge.Load(cfgFile, env, nil)
	if err != nil {
		t.Fatalf("ConfigMap config.yaml: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("ConfigMap config.yaml: %v", err)
	}
	if cfg.MQTT.Auth.AllowAnonymous {
		t.Error("production config allows anonymous MQTT clients")
	}
	if cfg.Log.Format != "json" {
		t.Errorf("production log.format = %q; want json", cfg.Log.Format)
	}
	checkClusterMode(t, cfg, ss, podLabels, podName, replicaIDFromPodName)

	// Data on the volumeClaimTemplate.
	if len(ss.VolumeClaimTemplates) == 0 {
		t.Fatal("no volumeClaimTemplates: sessions and queues need a persistent volume")
	}
	dataMount, dataSize := "", ""
	for _, m := range c.VolumeMounts {
		for _, vct := range ss.VolumeClaimTemplates {
			if m.Name == vct.Metadata.Name {
				dataMount = m.MountPath
				dataSize = vct.Spec.Resources.Requests["storage"]
			}
		}
	}
	if dataMount != df.volume {
		t.Errorf("volumeClaimTemplate mounted at %q; want the image's VOLUME %s", dataMount, df.volume)
	}
	if !strings.HasPrefix(cfg.MQTT.DataDir, df.volume+"/") {
		t.Errorf("mqtt.data_dir %q is not on the persistent volume %s", cfg.MQTT.DataDir, df.volume)
	}

	// The disk spool: on, on the same volume, and its quota leaves room
	// there for the sessions.
	sp := cfg.Kafka.Spool
	if !sp.Enabled {
		t.Error("kafka.spool.enabled is false in the ConfigMap; production runs with the disk spool")
	}
	if !strings.HasPrefix(sp.Dir, df.volume+"/") {
		t.Errorf("kafka.spool.dir %q is not on the persistent volume %s", sp.Dir, df.volume)
	}
	if path.Clean(sp.Dir) == path.Clean(cfg.MQTT.DataDir) {
		t.Errorf("kafka.spool.dir and mqtt.data_dir are both %q; give each its own directory", sp.Dir)
	}
	pvc, err := quantityBytes(dataSize)
	if err != nil {
		t.Errorf("volumeClaimTemplate storage request: %v", err)
	} else if sp.QuotaBytes > pvc*8/10 {
		t.Errorf("kafka.spool.quota_bytes %d is over 80%% of the %s volume (%d bytes); leave room for mqtt.data_dir", sp.QuotaBytes, dataSize, pvc)
	}

	// Probes on the admin port.
	portByName := map[string]int{}
	for _, p := range c.Ports {
		portByName[p.Name] = p.ContainerPort
	}
	adminPort := port(t, cfg.Admin.Address)
	type probeCheck struct {
		name string
		p    *httpProbe
		path string
	}
	probes := []probeCheck{
		{"livenessProbe", c.LivenessProbe, "/healthz"},
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
	}
	if c.StartupProbe != nil {
		probes = append(probes, probeCheck{"startupProbe", c.StartupProbe, "/healthz"})
	}
	for _, pr := range probes {
		if pr.p == nil || pr.p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet on %s", pr.name, pr.path)
			continue
		}
		if pr.p.HTTPGet.Path != pr.path {
			t.Errorf("%s path %q; want %s", pr.name, pr.p.HTTPGet.Path, pr.path)
		}
		if got := resolvePort(t, pr.p.HTTPGet.Port, portByName); got != adminPort {
			t.Errorf("%s on port %d; the admin listener is on %d", pr.name, got, adminPort)
		}
	}
	for _, want := range []int{port(t, cfg.MQTT.Listeners.TCP.Address), port(t, cfg.MQTT.Listeners.WS.Address), adminPort} {
		if !slices.Contains(slices.Collect(maps.Values(portByName)), want) {
			t.Errorf("container does not declare port %d", want)
		}
	}

	// Hardening and resources.
	sc := pod.SecurityContext
	if !sc.RunAsNonRoot || sc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v; want runAsNonRoot and a non-zero runAsUser", sc)
	}
	if uid := strings.Split(df.stages[len(df.stages)-1].user, ":")[0]; uid != strconv.Itoa(sc.RunAsUser) {
		t.Errorf("runAsUser %d; the image's USER is %s", sc.RunAsUser, uid)
	}
	if sc.FSGroup == 0 {
		t.Error("pod securityContext without fsGroup: the volume would not be writable for the non-root user")
	}
	if !c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("container securityContext: want readOnlyRootFilesystem")
	}
	if ape := c.SecurityContext.AllowPrivilegeEscalation; ape == nil || *ape {
		t.Error("container securityContext: want allowPrivilegeEscalation: false")
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("no resources.requests.%s", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("no resources.limits.memory")
	}

	// The grace period covers the shutdown: consumer drain, then the
	// producer flush, plus a margin. With the spool the flush waits at most
	// spoolShutdownFlush for Kafka (kafka/hybrid.go: shutdownFlush). It must
	// also fit without the spool, bounded by the delivery timeout, so that
	// an overlay turning the spool off stays safe.
	drain := cfg.Kafka.Consumer.DrainTimeoutMs / 1000
	if need := drain + spoolShutdownFlush + 5; sp.Enabled && pod.TerminationGracePeriodSeconds < need {
		t.Errorf("terminationGracePeriodSeconds %d; with the spool the shutdown may take drain_timeout_ms + %d s = %d s (+5 s margin)",
			pod.TerminationGracePeriodSeconds, spoolShutdownFlush, need-5)
	}
	if need := drain + cfg.Kafka.Producer.DeliveryTimeoutMs/1000 + 5; pod.TerminationGracePeriodSeconds < need {
		t.Errorf("terminationGracePeriodSeconds %d; without the spool the shutdown may take drain_timeout_ms + delivery_timeout_ms = %d s (+5 s margin)",
			pod.TerminationGracePeriodSeconds, need-5)
	}

	// Services.
	var headless, mqttSvc, metricsSvc bool
	for _, o := range byKind(objs, "Service") {
		var s serviceSpec
		decodeSpec(t, o, &s)
		if !selects(s.Selector, podLabels) {
			t.Errorf("Service %s selector %v does not select the pods %v", o.Metadata.Name, s.Selector, podLabels)
		}
		ports := map[int]bool{}
		for _, p := range s.Ports {
			tp := resolvePort(t, p.TargetPort, portByName)
			if tp == 0 {
				tp = p.Port
			}
			if !slices.Contains(slices.Collect(maps.Values(portByName)), tp) {
				t.Errorf("Service %s port %s targets %d, which the container does not declare", o.Metadata.Name, p.Name, tp)
			}
			ports[tp] = true
		}
		if o.Metadata.Name == ss.ServiceName {
			headless = s.ClusterIP == "None"
		}
		if ports[port(t, cfg.MQTT.Listeners.TCP.Address)] && ports[port(t, cfg.MQTT.Listeners.WS.Address)] && s.ClusterIP != "None" {
			mqttSvc = true
		}
		if ports[adminPort] && o.Metadata.Annotations["prometheus.io/scrape"] == "true" {
			metricsSvc = true
		}
	}
	if !headless {
		t.Errorf("serviceName %q is not a headless Service in the manifests", ss.ServiceName)
	}
	if !mqttSvc {
		t.Error("no Service exposing the MQTT and WebSocket ports")
	}
	if !metricsSvc {
		t.Error("no metrics Service on the admin port with prometheus.io/scrape annotations")
	}
	if ss.Template.Metadata.Annotations["prometheus.io/scrape"] != "true" ||
		ss.Template.Metadata.Annotations["prometheus.io/port"] != strconv.Itoa(adminPort) {
		t.Errorf("pod annotations %v; want prometheus.io/scrape and prometheus.io/port %d", ss.Template.Metadata.Annotations, adminPort)
	}

	// PodDisruptionBudget.
	for _, o := range byKind(objs, "PodDisruptionBudget") {
		var p pdbSpec
		decodeSpec(t, o, &p)
		if !selects(p.Selector.MatchLabels, podLabels) {
			t.Errorf("PodDisruptionBudget %s does not select the pods", o.Metadata.Name)
		}
		if p.MaxUnavailable == nil || *p.MaxUnavailable != 1 || p.MinAvailable != nil {
			t.Errorf("PodDisruptionBudget %s: want maxUnavailable 1 only (minAvailable with one replica blocks node drains)", o.Metadata.Name)
		}
		if p.MaxUnavailable != nil && ss.Replicas-*p.MaxUnavailable < 2 {
			t.Errorf("PodDisruptionBudget %s: maxUnavailable %d of %d replicas leaves fewer than 2 serving during a drain", o.Metadata.Name, *p.MaxUnavailable, ss.Replicas)
		}
	}
}

// checkClusterMode checks what running several replicas needs (issue 13,
// cluster/README.md): cluster mode on, each pod's replica id its stable
// pod name, state on the pod's own volume, the pods spread over nodes, and
// one pod replaced at a time.
func checkClusterMode(t *testing.T, cfg bridge.Config, ss statefulSetSpec, podLabels map[string]string, podName string, idFromPodName bool) {
	t.Helper()
	if !cfg.Cluster.Enabled {
		t.Error("cluster.enabled is false in the ConfigMap; with several replicas sessions, retained messages and routing must be shared")
	}
	// The replica id names the replica's inbox topic and owns its
	// sessions: it must survive a restart with the volume, as the pod name
	// does. The pod's hostname is the same name, but only when nothing sets
	// hostname in the pod spec; the env makes it explicit.
	if !idFromPodName {
		t.Error("no BRIDGE_CLUSTER_REPLICA_ID from the downward API (fieldRef metadata.name): cluster.replica_id must be the StatefulSet pod name")
	}
	if id, err := cfg.Cluster.ResolvedReplicaID(); err != nil || id != podName {
		t.Errorf("cluster.replica_id of pod %s resolves to %q (%v); want the pod name", podName, id, err)
	}
	if cfg.Cluster.ReplicationFactor != -1 && cfg.Cluster.ReplicationFactor < 3 {
		t.Errorf("cluster.replication_factor %d; production wants 3 (or -1, the broker's default)", cfg.Cluster.ReplicationFactor)
	}
	if ss.UpdateStrategy.Type != "" && ss.UpdateStrategy.Type != "RollingUpdate" {
		t.Errorf("updateStrategy %q; want RollingUpdate (one pod at a time, the next once the new one is ready, i.e. caught up)", ss.UpdateStrategy.Type)
	}
	// Anti-affinity: preferred (a smaller cluster still runs every
	// replica), on the node, selecting the bridge's own pods.
	a := ss.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.Preferred) == 0 {
		t.Fatal("no preferred podAntiAffinity: replicas may all land on one node")
	}
	if len(a.PodAntiAffinity.Required) > 0 {
		t.Error("required podAntiAffinity: a cluster with fewer nodes than replicas could not schedule them all; use preferred")
	}
	ok := false
	for _, p := range a.PodAntiAffinity.Preferred {
		if p.Term.TopologyKey == "kubernetes.io/hostname" && selects(p.Term.LabelSelector.MatchLabels, podLabels) && p.Weight > 0 {
			ok = true
		}
	}
	if !ok {
		t.Errorf("podAntiAffinity %+v; want a preferred term with weight > 0 on topologyKey kubernetes.io/hostname selecting the pods %v", a.PodAntiAffinity.Preferred, podLabels)
	}
}

// resolvePort turns a port reference (a number or a container port name)
// into a number; 0 when the node is empty.
func resolvePort(t *testing.T, n yaml.Node, byName map[string]int) int {
	t.Helper()
	if n.Kind == 0 {
		return 0
	}
	var num int
	if err := n.Decode(&num); err == nil {
		return num
	}
	p, ok := byName[n.Value]
	if !ok {
		t.Errorf("port %q is no container port name", n.Value)
	}
	return p
}

// TestKustomizeBuild renders the kustomization with kubectl's built-in
// kustomize when kubectl is installed (it needs no cluster).
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	out, err := exec.Command(kubectl, "kustomize", k8sDir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", k8sDir, err, out)
	}
	for _, kind := range []string{"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget"} {
		if !bytes.Contains(out, []byte("kind: "+kind+"\n")) {
			t.Errorf("kubectl kustomize output has no %s", kind)
		}
	}
}

// spoolShutdownFlush is the producer's bound, in seconds, on waiting for
// Kafka at shutdown with the spool on (kafka/hybrid.go shutdownFlush, 3 s).
const spoolShutdownFlush = 3

// quantityBytes parses a Kubernetes storage quantity such as 10Gi, 500M or
// 1073741824.
func quantityBytes(q string) (int64, error) {
	suffixes := []struct {
		s string
		m int64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
	}
	mult := int64(1)
	num := q
	for _, s := range suffixes {
		if n, ok := strings.CutSuffix(q, s.s); ok {
			num, mult = n, s.m
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("quantity %q: want a positive integer with an optional suffix (Ki, Mi, Gi, Ti, k, M, G, T)", q)
	}
	return n * mult, nil
}

func TestQuantityBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10Gi", 10 << 30, true},
		{"512Mi", 512 << 20, true},
		{"2G", 2e9, true},
		{"1073741824", 1 << 30, true},
		{"", 0, false},
		{"1.5Gi", 0, false},
		{"Gi", 0, false},
	}
	for _, tc := range tests {
		got, err := quantityBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("quantityBytes(%q) = %d, %v; want %d (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
