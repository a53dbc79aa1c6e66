//go:build !js

package relay_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/relay"
)

// TestBrokenConfigs: every fixture in testdata/config is refused, with an
// error that gives the file, the line and column, the key path, and what is
// wrong, and says "relay:" nowhere (cmd/relay adds it once).
func TestBrokenConfigs(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"unknown-key.json":           `:1:75: apps[0].loopbackExmpt: unknown key`,
		"nested-unknown-key.json":    `:6:35: apps[0].limits.maxStreamz: unknown key`,
		"bad-capability.json":        `:1:57: apps[0].capabilities[0]: unknown capability "internetclient"`,
		"duplicate-id.json":          `:1:43: apps[1].id: duplicate id "a"`,
		"origin-without-scheme.json": `:1:31: apps[0].origins[0]: origin "app.example"`,
		"origin-with-path.json":      `:1:31: apps[0].origins[0]: origin "https://app.example/path"`,
		"unreachable-app.json":       ":1:10: apps[0]: app \"a\": no origins and allowNoOrigin is false: no client could use it",
		"missing-id.json":            ":1:10: apps[0]: id is required",
		"trailing-data.json":         ":1:44: trailing data",
		"truncated.json":             ":1:41: apps[0]: unexpected end of the file",
		"negative-limit.json":        ":1:51: apps[0].limits.maxStreams: -5 is negative",
		"webrtc-bad-type.json":       ":1:53: webrtc.portMin: want a number",
		"webrtc-reversed-range.json": ":2:12: webrtc.portMin: portMin 50100 is above portMax 50000",
		"listen-reversed-range.json": `:1:77: apps[0].listen.ports: port range "9000-8000": 9000 is above 8000`,
		"no-apps.json":               ": apps: no app is configured: the relay would refuse every client",
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
		var ce *relay.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %T %v, want a *relay.ConfigError", f, err, err)
		}
		if w := want[filepath.Base(f)]; !strings.HasPrefix(err.Error(), f+w) {
			t.Errorf("%s: error\n\t%s\nwant it to start with\n\t%s", f, err, f+w)
		}
		if strings.Contains(err.Error(), "relay:") {
			t.Errorf("%s: %q says relay: (cmd/relay prefixes it once)", f, err)
		}
	}
}

func TestConfigWarnings(t *testing.T) {
	t.Parallel()
	c := mustParse(`{"apps":[{"id":"a","allowNoOrigin":true},{"id":"b","allowNoOrigin":true,"capabilities":["internetClient"]}]}`)
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], `app "a" has no capabilities`) {
		t.Fatalf("Warnings() = %q, want one for app a", w)
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
