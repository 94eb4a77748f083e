package integration

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iotbridge/mqtt-kafka-bridge/integration/testenv"
)

// syncBuffer is a bytes.Buffer safe for a writer process and a reader test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	return testenv.FreePort(t)
}

// process is a started command whose end the test can wait for.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer // stdout and stderr together
	done chan struct{}
	err  error
}

func startProcess(t testing.TB, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits up to d for the process to end and reports whether it did.
func (p *process) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestREADMEDemo runs the README's demo against the built binary and the
// shipped config.yaml, with only ports, the data dir, the bootstrap server
// and (so reruns against the same broker stay independent) the consumer
// group overridden: mosquitto_pub's message is in iot.telemetry (read with
// kcat), a command produced with kcat reaches mosquitto_sub, and SIGTERM
// stops the bridge with exit status 0 within a few seconds.
func TestREADMEDemo(t *testing.T) {
	pub, sub, kcat := requireBinary(t, "mosquitto_pub"), requireBinary(t, "mosquitto_sub"), requireBinary(t, "kcat")
	bootstrap := sharedKafka(t)
	// The shipped names; the broker auto-creates topics with 3 partitions,
	// so creating them first only avoids the creation race.
	testenv.CreateTopic(t, bootstrap, "iot.telemetry", 3)
	testenv.CreateTopic(t, bootstrap, "iot.commands", 3)

	mqttPort, wsPort, adminPort := freePort(t), freePort(t), freePort(t)
	admin := fmt.Sprintf("127.0.0.1:%d", adminPort)
	br := startProcess(t, bridgeBinary(t), "--config", shippedConfig(),
		"--set", fmt.Sprintf("mqtt.listeners.tcp.address=127.0.0.1:%d", mqttPort),
		"--set", fmt.Sprintf("mqtt.listeners.ws.address=127.0.0.1:%d", wsPort),
		"--set", "admin.address="+admin,
		"--set", "mqtt.data_dir="+t.TempDir(),
		"--set", "kafka.bootstrap_servers="+bootstrap,
		"--set", "kafka.consumer.group_id="+uniq(t, "group"),
	)
	waitFor(t, kafkaWait, "the bridge's /readyz to answer 200", func() bool {
		select {
		case <-br.done:
			t.Fatalf("the bridge exited early: %v\n%s", br.err, br.out.String())
		default:
		}
		code, _ := httpGet(admin, "/readyz")
		return code == 200
	})
	port := fmt.Sprint(mqttPort)

	// Uplink: mosquitto_pub at QoS 1 returns only after the PUBACK, which
	// the bridge sends only once Kafka has the record.
	hello := "hello " + uniq(t, "msg")
	if out, err := exec.Command(pub, "-h", "127.0.0.1", "-p", port, "-q", "1", "-t", "devices/d1/telemetry", "-m", hello).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	out, err := exec.Command(kcat, "-C", "-b", bootstrap, "-t", "iot.telemetry", "-o", "beginning", "-e", "-q", "-f", "%k|%s\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "d1|"+hello+"\n") {
		t.Errorf("kcat did not read key d1 value %q from iot.telemetry; last output:\n%s", hello, tail(string(out), 10))
	}

	// Downlink: the shipped consumer starts at the latest offset, so a
	// command produced before the group has its partitions is never seen.
	// Produce until mosquitto_sub, subscribed first, gets one.
	cmdPayload := "reboot " + uniq(t, "cmd")
	ms := startProcess(t, sub, "-h", "127.0.0.1", "-p", port, "-q", "1", "-t", "devices/d1/commands", "-C", "1")
	waitFor(t, mqttWait, "mosquitto_sub's subscription", func() bool {
		n, _ := metric(t, admin, "mqtt_bridge_subscriptions")
		return n >= 1
	})
	deadline := time.Now().Add(kafkaWait)
	for received := false; !received; {
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto_sub received nothing within %v; output:\n%s\nbridge:\n%s", kafkaWait, ms.out.String(), tail(br.out.String(), 20))
		}
		p := exec.Command(kcat, "-P", "-b", bootstrap, "-t", "iot.commands", "-K:")
		p.Stdin = strings.NewReader("d1:" + cmdPayload + "\n")
		if out, err := p.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v\n%s", err, out)
		}
		received = ms.wait(2 * time.Second)
	}
	if ms.err != nil || strings.TrimSpace(ms.out.String()) != cmdPayload {
		t.Errorf("mosquitto_sub: %v, printed %q; want %q", ms.err, ms.out.String(), cmdPayload)
	}

	// SIGTERM: a clean stop, exit status 0, in a few seconds.
	if err := br.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !br.wait(15 * time.Second) {
		t.Fatalf("the bridge did not exit within 15s of SIGTERM\n%s", tail(br.out.String(), 20))
	}
	if br.err != nil {
		t.Errorf("the bridge exited with %v after SIGTERM; want status 0\n%s", br.err, tail(br.out.String(), 20))
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
