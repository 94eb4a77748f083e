package integration

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// childProc is a helper program a test runs beside the bridge (haproxy,
// Prometheus): its output is kept, and at the test's end it gets SIGTERM,
// then SIGKILL after grace; when the test failed the last lines of its
// output are logged.
type childProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed once it exited
}

// startChild starts cmd (its output captured) or fails the test; name
// labels the logs.
func startChild(t *testing.T, name string, cmd *exec.Cmd, grace time.Duration, tailLines int) *childProc {
	t.Helper()
	p := &childProc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output (last %d lines):\n%s", name, tailLines, tail(p.out.String(), tailLines))
		}
	})
	return p
}
