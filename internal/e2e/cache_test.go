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
	// What make test-native runs: the uncached packages with -count=1,
	// and CACHED_TEST_PKGS (go list ./... minus those) as it is; evaluate
	// both lists the way the recipe does.
	list := func(expr string) map[string]bool {
		cmd := exec.Command("make", "-s", "-f", "Makefile", "-f", "-", "print-list")
		cmd.Dir = repoRoot
		cmd.Stdin = strings.NewReader("print-list:\n\t@for p in " + expr + "; do echo $$p; done\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("make: evaluate %s: %v", expr, err)
		}
		m := map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			m[l] = true
		}
		return m
	}
	cmd := exec.Command("make", "-n", "test-native")
	cmd.Dir = repoRoot
	recipe, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n test-native: %v\n%s", err, recipe)
	}
	if !strings.Contains(string(recipe), "-count=1 -timeout 600s "+strings.Join(strings.Fields(makeVar(t, "UNCACHED_TEST_PKGS")), " ")) {
		t.Fatalf("make test-native does not run UNCACHED_TEST_PKGS with -count=1:\n%s", recipe)
	}
	uncached, cached := list("$(UNCACHED_TEST_PKGS)"), list("$(CACHED_TEST_PKGS)")
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range need {
		if ownTarget(string(makefile), pkg) {
			continue // a make target of its own runs it with -count=1 (and go test ./... skips it)
		}
		if !uncached[pkg] {
			t.Errorf("%s builds or runs go in a subprocess, but is not in UNCACHED_TEST_PKGS (run with -count=1)", pkg)
		}
		if imp := "github.com/sockshim/sockshim/" + strings.TrimSuffix(strings.TrimPrefix(pkg, "./"), "/"); cached[imp] {
			t.Errorf("%s is also in the cached test run", imp)
		}
	}
	if len(cached) < 10 {
		t.Errorf("CACHED_TEST_PKGS lists %d packages; the expression is broken", len(cached))
	}
}

// ownTarget reports whether a Makefile recipe line runs go test -count=1
// on pkg by itself (like make test-edge).
func ownTarget(makefile, pkg string) bool {
	for _, line := range strings.Split(makefile, "\n") {
		if strings.Contains(line, "$(GO) test -count=1") && strings.Contains(line+" ", " "+pkg+" ") {
			return true
		}
	}
	return false
}

// makeVar is the value of a Makefile variable.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command("make", "-s", "-f", "Makefile", "-f", "-", "print-var")
	cmd.Dir = repoRoot
	cmd.Stdin = strings.NewReader("print-var:\n\t@echo '$(" + name + ")'\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make: print %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}
