package main

import (
	"runtime/debug"
	"testing"
)

func TestResolveVersion(t *testing.T) {
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "1777ce5abcdef0123456789abcdef0123456789a"
	for _, tt := range []struct {
		name   string
		ldflag string
		info   *debug.BuildInfo
		want   string
	}{
		{"ldflag wins", "v1.2.0-3-g1777ce5", &debug.BuildInfo{Main: debug.Module{Version: "v9"}, Settings: vcs(rev, "t", "false")}, "v1.2.0-3-g1777ce5"},
		{"Dockerfile default dev counts as unset", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, "v1.3.0"},
		{"go install module@version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, "v1.3.0"},
		{"checkout: pseudo-version, revision and time", "",
			&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261203095146-1777ce5abcde"}, Settings: vcs(rev, "2026-12-03T09:51:46Z", "false")},
			"v0.0.0-20261203095146-1777ce5abcde (1777ce5abcde, 2026-12-03T09:51:46Z)"},
		{"uncommitted changes", "",
			&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "2026-12-03T09:51:46Z", "true")},
			"devel (1777ce5abcde-dirty, 2026-12-03T09:51:46Z)"},
		{"no VCS, no module version", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"no build info", "", nil, "dev"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolveVersion(tt.ldflag, tt.info); got != tt.want {
				t.Errorf("resolveVersion(%q, ...) = %q; want %q", tt.ldflag, got, tt.want)
			}
		})
	}
}
