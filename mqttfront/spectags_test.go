package mqttfront

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSpecTags: every MQTT spec tag in the repository's Go and Markdown
// files is a normative id, [MQTT-x.y.z-n]; a section without one is cited
// as a plain §x.y.z, and placeholders ([MQTT-3.3.4-?]) or shorthands
// ([MQTT-3.3.1-6/7]) are not tags. The one exception is the 3.1.1 spec's
// own misprint [MQTT-3-8.3-4], cited as printed.
func TestSpecTags(t *testing.T) {
	tag := regexp.MustCompile(`\[MQTT-[^\]]*\]`)
	good := regexp.MustCompile(`^\[MQTT-\d+\.\d+(\.\d+)*-\d+\]$`)
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() == "spectags_test.go" || !strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, ".md") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range tag.FindAllString(line, -1) {
				if !good.MatchString(m) && m != "[MQTT-3-8.3-4]" {
					t.Errorf("%s:%d: spec tag %s; want a normative id [MQTT-x.y.z-n] or a section reference §x.y.z", path, i+1, m)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
