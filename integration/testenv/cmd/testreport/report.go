package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus the
// build events of Go 1.24+).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string
}

// skip is a skipped test and the message it gave.
type skip struct {
	pkg, test, reason string
}

// report turns the event stream into plain go test output and a tally.
type report struct {
	w       io.Writer
	tests   map[string][]string // "pkg\x00test" -> output lines so far
	pkgOut  map[string][]string // package-level output lines so far
	passed  int
	failed  int
	skipped []skip
	broken  bool // a package or a build failed
}

func newReport(w io.Writer) *report {
	return &report{w: w, tests: map[string][]string{}, pkgOut: map[string][]string{}}
}

// read consumes the whole stream. A line that is not an event is printed as
// it is (go test writes some errors as plain text).
func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(r.w, "%s\n", line)
			continue
		}
		r.handle(e)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read go test -json: %w", err)
	}
	return nil
}

func (r *report) handle(e event) {
	key := e.Package + "\x00" + e.Test
	switch {
	case e.Action == "build-output":
		fmt.Fprint(r.w, e.Output)
	case e.Action == "build-fail":
		r.broken = true
	case e.Test == "" && e.Action == "output":
		r.pkgOut[e.Package] = append(r.pkgOut[e.Package], e.Output)
	case e.Test == "" && (e.Action == "pass" || e.Action == "skip"):
		// A package skip is a package without test files: not a skipped test.
		for _, l := range r.pkgOut[e.Package] {
			if strings.HasPrefix(l, "ok") || strings.HasPrefix(l, "?") {
				fmt.Fprint(r.w, l)
			}
		}
		r.endPackage(e.Package, false)
	case e.Test == "" && e.Action == "fail":
		r.broken = true
		r.endPackage(e.Package, true)
	case e.Action == "output":
		r.tests[key] = append(r.tests[key], e.Output)
	case e.Action == "pass":
		r.passed++
		delete(r.tests, key)
	case e.Action == "skip":
		r.skipped = append(r.skipped, skip{pkg: e.Package, test: e.Test, reason: skipReason(r.tests[key])})
		delete(r.tests, key)
	case e.Action == "fail":
		r.failed++
		r.print(r.tests[key])
		delete(r.tests, key)
	}
}

// endPackage prints, for a failed package, the output of the tests that
// never ended (a panic or a timeout kills the binary mid-test) and the
// package's own output (FAIL lines, TestMain's reports), then forgets it.
func (r *report) endPackage(pkg string, failed bool) {
	prefix := pkg + "\x00"
	for k, lines := range r.tests {
		if strings.HasPrefix(k, prefix) {
			if failed {
				r.print(lines)
			}
			delete(r.tests, k)
		}
	}
	if failed {
		r.print(r.pkgOut[pkg])
	}
	delete(r.pkgOut, pkg)
}

func (r *report) print(lines []string) {
	for _, l := range lines {
		fmt.Fprint(r.w, l)
	}
}

// logLine matches a line written by t.Log, t.Skip and friends.
var logLine = regexp.MustCompile(`^\s+[^\s:]+\.go:\d+: (.*)$`)

// skipReason is the last log line before "--- SKIP", without its file:line.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if m := logLine.FindStringSubmatch(strings.TrimRight(lines[i], "\n")); m != nil {
			return m[1]
		}
	}
	return "no reason given"
}

// ok reports whether everything that ran passed and something ran.
func (r *report) ok() bool {
	return !r.broken && r.failed == 0 && r.passed > 0
}

// closing is the counts line and the skip line.
func (r *report) closing() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tests: %d passed, %d failed, %d skipped\n", r.passed, r.failed, len(r.skipped))
	if len(r.skipped) == 0 {
		b.WriteString("skipped: none\n")
		return b.String()
	}
	parts := make([]string, len(r.skipped))
	for i, s := range r.skipped {
		parts[i] = fmt.Sprintf("%s %s (%s)", shortPkg(s.pkg), s.test, s.reason)
	}
	fmt.Fprintf(&b, "skipped: %s\n", strings.Join(parts, "; "))
	return b.String()
}

// shortPkg drops the module path from a package path.
func shortPkg(p string) string {
	const module = "github.com/iotbridge/mqtt-kafka-bridge/"
	if s, ok := strings.CutPrefix(p, module); ok {
		return s
	}
	if p == strings.TrimSuffix(module, "/") {
		return "."
	}
	return p
}
