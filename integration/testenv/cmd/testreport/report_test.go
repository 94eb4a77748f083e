package main

import (
	"strings"
	"testing"
)

// Events as `go test -json` writes them (trimmed to the fields read).
const (
	evPassPkg = `{"Action":"start","Package":"m/a"}
{"Action":"run","Package":"m/a","Test":"TestOK"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"    a_test.go:4: chatty log\n"}
{"Action":"output","Package":"m/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"m/a","Test":"TestOK"}
{"Action":"output","Package":"m/a","Output":"PASS\n"}
{"Action":"output","Package":"m/a","Output":"ok  \tm/a\t0.010s\n"}
{"Action":"pass","Package":"m/a"}
`
	evSkip = `{"Action":"run","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration","Test":"TestDemo"}
{"Action":"output","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration","Test":"TestDemo","Output":"=== RUN   TestDemo\n"}
{"Action":"output","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration","Test":"TestDemo","Output":"    demo_test.go:5: starting\n"}
{"Action":"output","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration","Test":"TestDemo","Output":"    helpers_test.go:89: kcat not installed: exec: \"kcat\": executable file not found in $PATH\n"}
{"Action":"output","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration","Test":"TestDemo","Output":"--- SKIP: TestDemo (0.00s)\n"}
{"Action":"skip","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration","Test":"TestDemo"}
{"Action":"run","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration","Test":"TestSub/a"}
{"Action":"output","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration","Test":"TestSub/a","Output":"--- SKIP: TestSub/a (0.00s)\n"}
{"Action":"skip","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration","Test":"TestSub/a"}
{"Action":"output","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration","Output":"ok  \tgithub.com/iotbridge/mqtt-kafka-bridge/integration\t1.0s\n"}
{"Action":"pass","Package":"github.com/iotbridge/mqtt-kafka-bridge/integration"}
`
	evFail = `{"Action":"run","Package":"m/b","Test":"TestBad"}
{"Action":"output","Package":"m/b","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"m/b","Test":"TestBad","Output":"    b_test.go:7: boom\n"}
{"Action":"output","Package":"m/b","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"m/b","Test":"TestBad"}
{"Action":"output","Package":"m/b","Output":"FAIL\n"}
{"Action":"output","Package":"m/b","Output":"goleak: Errors on successful test run: found unexpected goroutines\n"}
{"Action":"output","Package":"m/b","Output":"FAIL\tm/b\t0.010s\n"}
{"Action":"fail","Package":"m/b"}
`
	// A timeout panics the binary while TestHang runs: no event ends it.
	evTimeout = `{"Action":"run","Package":"m/c","Test":"TestHang"}
{"Action":"output","Package":"m/c","Test":"TestHang","Output":"=== RUN   TestHang\n"}
{"Action":"output","Package":"m/c","Test":"TestHang","Output":"    c_test.go:3: waiting\n"}
{"Action":"output","Package":"m/c","Output":"panic: test timed out after 1s\n"}
{"Action":"output","Package":"m/c","Output":"FAIL\tm/c\t1.0s\n"}
{"Action":"fail","Package":"m/c"}
`
	evBuild = `{"ImportPath":"m/d [m/d.test]","Action":"build-output","Output":"# m/d\n"}
{"ImportPath":"m/d [m/d.test]","Action":"build-output","Output":"d_test.go:3:2: undefined: x\n"}
{"ImportPath":"m/d [m/d.test]","Action":"build-fail"}
{"Action":"start","Package":"m/d"}
{"Action":"output","Package":"m/d","Output":"FAIL\tm/d [build failed]\n"}
{"Action":"fail","Package":"m/d"}
`
	evNoTests = `{"Action":"start","Package":"m/e"}
{"Action":"output","Package":"m/e","Output":"?   \tm/e\t[no test files]\n"}
{"Action":"skip","Package":"m/e"}
`
)

func TestReport(t *testing.T) {
	for _, tt := range []struct {
		name    string
		in      string
		out     string // printed before the closing lines
		closing string
		ok      bool
	}{
		{name: "passing package: its ok line only", in: evPassPkg,
			out:     "ok  \tm/a\t0.010s\n",
			closing: "tests: 1 passed, 0 failed, 0 skipped\nskipped: none\n", ok: true},
		{name: "skips: counted and named with the last log line", in: evPassPkg + evSkip,
			out: "ok  \tm/a\t0.010s\nok  \tgithub.com/iotbridge/mqtt-kafka-bridge/integration\t1.0s\n",
			closing: "tests: 1 passed, 0 failed, 2 skipped\n" +
				"skipped: integration TestDemo (kcat not installed: exec: \"kcat\": executable file not found in $PATH); integration TestSub/a (no reason given)\n",
			ok: true},
		{name: "failing test: its output and the package's", in: evPassPkg + evFail,
			out: "ok  \tm/a\t0.010s\n=== RUN   TestBad\n    b_test.go:7: boom\n--- FAIL: TestBad (0.00s)\n" +
				"FAIL\ngoleak: Errors on successful test run: found unexpected goroutines\nFAIL\tm/b\t0.010s\n",
			closing: "tests: 1 passed, 1 failed, 0 skipped\nskipped: none\n"},
		{name: "timeout: the unfinished test's output", in: evPassPkg + evTimeout,
			out:     "ok  \tm/a\t0.010s\n=== RUN   TestHang\n    c_test.go:3: waiting\npanic: test timed out after 1s\nFAIL\tm/c\t1.0s\n",
			closing: "tests: 1 passed, 0 failed, 0 skipped\nskipped: none\n"},
		{name: "build failure", in: evPassPkg + evBuild,
			out:     "ok  \tm/a\t0.010s\n# m/d\nd_test.go:3:2: undefined: x\nFAIL\tm/d [build failed]\n",
			closing: "tests: 1 passed, 0 failed, 0 skipped\nskipped: none\n"},
		{name: "package without tests is no skip", in: evPassPkg + evNoTests,
			out:     "ok  \tm/a\t0.010s\n?   \tm/e\t[no test files]\n",
			closing: "tests: 1 passed, 0 failed, 0 skipped\nskipped: none\n", ok: true},
		{name: "plain text goes through", in: "go: downloading x v1.0.0\n" + evPassPkg,
			out:     "go: downloading x v1.0.0\nok  \tm/a\t0.010s\n",
			closing: "tests: 1 passed, 0 failed, 0 skipped\nskipped: none\n", ok: true},
		{name: "nothing ran", in: evNoTests,
			out:     "?   \tm/e\t[no test files]\n",
			closing: "tests: 0 passed, 0 failed, 0 skipped\nskipped: none\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			r := newReport(&b)
			if err := r.read(strings.NewReader(tt.in)); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.out {
				t.Errorf("printed:\n%s\nwant:\n%s", b.String(), tt.out)
			}
			if got := r.closing(); got != tt.closing {
				t.Errorf("closing() = %q; want %q", got, tt.closing)
			}
			if r.ok() != tt.ok {
				t.Errorf("ok() = %v; want %v", r.ok(), tt.ok)
			}
		})
	}
}
