//go:build !js

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestBrowserBuildDeps keeps out of the browser build what it does without
// and what would cost the gzipped bundle most: internal/policy links
// golang.org/x/net/idna's and x/text's Unicode tables (about 100 KB gzipped)
// as soon as it is imported; shim/hostname_js.go uses the browser's UTS 46
// instead. encoding/json (about 127 KB gzipped) is the browser's JSON in
// internal/wispclient/rtc_json_js.go.
func TestBrowserBuildDeps(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "github.com/sockshim/sockshim/internal/policy", "golang.org/x/net/idna", "golang.org/x/text/unicode/norm",
			"encoding/json":
			t.Errorf("the browser build imports %s", p)
		}
	}
}
