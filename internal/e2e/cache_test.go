//go:build !js

package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// subprocessGo matches a test that runs the go command (go build, go list,
// go test...) or a binary this package built: its inputs are invisible to
// Go's test cache.
var subprocessGo = regexp.MustCompile(`exec\.Command(Context)?\([^)]*"go"|builtRelay\(|buildRunner\(`)

// TestSubprocessTestsAreUncached: every package whose tests build or run
// the go command in a subprocess is in the Makefile's UNCACHED_TEST_PKGS,
// which make test-native runs with -count=1, and nowhere cached: otherwise
// a change to web/app.js (say) replays an old pass.
func TestSubprocessTestsAreUncached(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is missing")
	}
	need := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() && path != repoRoot {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module, with its own make target
			}
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if subprocessGo.Match(b) {
			rel, _ := filepath.Rel(repoRoot, filepath.Dir(path))
			need["./"+filepath.ToSlash(rel)+"/"] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !need["./internal/e2e/"] {
		t.Fatalf("the scan found no subprocess builds in internal/e2e; it is broken (found %v)", need)
	}
	cmd := exec.Command("make", "-n", "test-native")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n test-native: %v\n%s", err, out)
	}
	var uncached, cached []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, " test ") {
			continue
		}
		if strings.Contains(line, "-count=1") {
			uncached = append(uncached, line)
		} else {
			cached = append(cached, line)
		}
	}
	for pkg := range need {
		found := false
		for _, l := range uncached {
			found = found || strings.Contains(l+" ", " "+pkg+" ")
		}
		if !found {
			t.Errorf("%s builds or runs go in a subprocess, but make test-native does not run it with -count=1:\n%s", pkg, out)
		}
	}
	if len(cached) > 0 {
		// The cached run lists packages with go list ./... minus the
		// uncached ones (CACHED_TEST_PKGS); evaluate it to see what it keeps.
		cmd := exec.Command("make", "-s", "-f", "Makefile", "-f", "-", "print-cached")
		cmd.Dir = repoRoot
		cmd.Stdin = strings.NewReader("print-cached:\n\t@for p in $(CACHED_TEST_PKGS); do echo $$p; done\n")
		list, err := cmd.Output()
		if err != nil {
			t.Fatalf("list the cached packages: %v", err)
		}
		for pkg := range need {
			if imp := "github.com/sockshim/sockshim/" + strings.Trim(pkg, "./"); strings.Contains("\n"+string(list), "\n"+imp+"\n") {
				t.Errorf("%s is also in the cached test run", imp)
			}
		}
	}
}
