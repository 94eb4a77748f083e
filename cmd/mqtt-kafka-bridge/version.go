package main

import (
	"runtime/debug"
	"strings"
)

// binaryVersion is the version `version`, the admin API and the dashboard
// show: main.version when the build set it (make build passes git
// describe, the Dockerfile its VERSION argument), else what the Go
// toolchain recorded in the binary (module version, VCS revision and
// time), else "dev".
func binaryVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return resolveVersion(version, info)
}

// resolveVersion picks the version from the -X value and the build info.
// "dev" from -X counts as unset (the Dockerfile's default).
func resolveVersion(ldflag string, info *debug.BuildInfo) string {
	if ldflag != "" && ldflag != "dev" {
		return ldflag
	}
	if info == nil {
		return "dev"
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	base := info.Main.Version
	if base == "(devel)" {
		base = ""
	}
	if rev == "" {
		if base == "" {
			return "dev"
		}
		return base
	}
	if base == "" {
		base = "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified {
		rev += "-dirty"
	}
	detail := []string{rev}
	if at != "" {
		detail = append(detail, at)
	}
	return base + " (" + strings.Join(detail, ", ") + ")"
}
