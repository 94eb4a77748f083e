// Command testreport reads `go test -json` on stdin and prints what plain
// `go test` prints for a list of packages: one "ok" line per passing
// package, and the whole output of every failing test and failing package
// (their logs, panics, goleak reports, build errors). At the end it prints
// the counts and one line naming every skipped test with its reason, so a
// tool missing on a developer machine does not go unnoticed.
//
//	go test -json ./... | testreport [-o FILE]
//
// -o also writes the two closing lines to FILE (make test prints them again
// after the fuzz runs). It exits 1 when a test, a package or a build failed,
// or when the input ended without any test having run.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("o", "", "also write the closing lines to this file")
	flag.Parse()
	r := newReport(os.Stdout)
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
		os.Exit(1)
	}
	closing := r.closing()
	fmt.Print(closing)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(closing), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "testreport: %v\n", err)
			os.Exit(1)
		}
	}
	if !r.ok() {
		os.Exit(1)
	}
}
