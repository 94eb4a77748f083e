package integration

import (
	"bufio"
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
// kcat from where each partition ended when the test started, never from
// the beginning: the broker may hold millions of records of other runs), a
// command produced with kcat reaches mosquitto_sub, and SIGTERM stops the
// bridge with exit status 0 within a few seconds.
func TestREADMEDemo(t *testing.T) {
	pub, sub, kcat := requireBinary(t, "mosquitto_pub"), requireBinary(t, "mosquitto_sub"), requireBinary(t, "kcat")
	bootstrap := sharedKafka(t)
	// The shipped names; the broker auto-creates topics with 3 partitions,
	// so creating them first only avoids the creation race.
	testenv.CreateTopic(t, bootstrap, "iot.telemetry", 3)
	testenv.CreateTopic(t, bootstrap, "iot.commands", 3)
	// The broker may hold millions of iot.telemetry records (make run, a
	// benchmark): read only what comes after this point.
	start := testenv.EndOffsets(t, bootstrap, "iot.telemetry")

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
	if found, last := kcatFind(t, kcat, bootstrap, "iot.telemetry", start, "d1|"+hello); !found {
		t.Errorf("kcat did not read key d1 value %q from iot.telemetry; last output:\n%s", hello, last)
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

// kcatFind reads topic with kcat (-C -e, one partition at a time, from the
// offsets in from) until a line `%k|%s` equals want, and reports whether one
// did, with the last lines read. It streams: whatever else the partitions
// hold after from (other writers of a shipped topic) is read and dropped,
// never collected.
func kcatFind(t testing.TB, kcat, bootstrap, topic string, from map[int32]int64, want string) (bool, string) {
	t.Helper()
	var last []string
	for p, off := range from {
		cmd := exec.Command(kcat, "-C", "-b", bootstrap, "-t", topic, "-p", fmt.Sprint(p), "-o", fmt.Sprint(off), "-e", "-q", "-f", "%k|%s\n")
		var stderr syncBuffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatalf("kcat -C: %v", err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("kcat -C: %v", err)
		}
		found := false
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			if sc.Text() == want {
				found = true
				break
			}
			if last = append(last, sc.Text()); len(last) > 10 {
				last = last[1:]
			}
		}
		if err := sc.Err(); found || err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if err != nil {
				t.Fatalf("kcat -C -p %d -o %d: read: %v", p, off, err)
			}
			return true, ""
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("kcat -C -p %d -o %d: %v\n%s", p, off, err, stderr.String())
		}
	}
	return false, strings.Join(last, "\n")
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
