//go:build !js

package relay_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/relay"
)

// TestBrokenConfigs: every fixture in testdata/config is refused, with an
// error that points at what is wrong.
func TestBrokenConfigs(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"unknown-key.json":           `unknown field "loopbackExmpt"`,
		"bad-capability.json":        `unknown capability "internetclient"`,
		"duplicate-id.json":          `duplicate id "a"`,
		"origin-without-scheme.json": `origin "app.example"`,
		"origin-with-path.json":      `origin "https://app.example/path"`,
		"unreachable-app.json":       "no client could use it",
		"missing-id.json":            "id is required",
		"trailing-data.json":         "trailing data",
		"truncated.json":             "unexpected EOF",
		"negative-limit.json":        "limits",
		"webrtc-bad-type.json":       "portMin",
	}
	files, err := filepath.Glob("testdata/config/*.json")
	if err != nil || len(files) != len(want) {
		t.Fatalf("fixtures %v (%v), want %d", files, err, len(want))
	}
	for _, f := range files {
		_, err := relay.LoadConfig(f)
		if err == nil {
			t.Errorf("%s: accepted", f)
			continue
		}
		if w := want[filepath.Base(f)]; !strings.Contains(err.Error(), w) || !strings.Contains(err.Error(), f) {
			t.Errorf("%s: error %q does not name the file and %q", f, err, w)
		}
	}
}

func TestGoodConfig(t *testing.T) {
	t.Parallel()
	c, err := relay.LoadConfig("testdata/good.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Apps) != 1 || c.WebRTC == nil || c.WebRTC.PortMax != 50100 || c.Apps[0].Limits.BytesPerSecond != 1<<20 {
		t.Fatalf("parsed %+v", c)
	}
}
