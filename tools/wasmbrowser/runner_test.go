//go:build !js

package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The self-test builds the runner and two wasm programs once, and runs them
// through the runner in headless Chromium.

var (
	buildOnce sync.Once
	buildErr  error
	runnerBin string
	smokeTest string
	progWasm  string
)

// requireBrowser skips the test when Chromium is missing, or fails it when
// SOCKSHIM_REQUIRE_BROWSER=1.
func requireBrowser(t *testing.T) {
	t.Helper()
	if testing.Short() && os.Getenv("SOCKSHIM_REQUIRE_BROWSER") != "1" {
		t.Skip("-short: skipping the browser self-test")
	}
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		msg := "Chromium not found at " + path + "; run `make deps` (scripts/install-chromium.sh)"
		if os.Getenv("SOCKSHIM_REQUIRE_BROWSER") == "1" {
			t.Fatal(msg + " (SOCKSHIM_REQUIRE_BROWSER=1)")
		}
		t.Skip(msg)
	}
	buildOnce.Do(build)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

func build() {
	dir, err := os.MkdirTemp("", "wasmbrowser-selftest-")
	if err != nil {
		buildErr = err
		return
	}
	// The directory stays until the process ends; it is small.
	runnerBin = filepath.Join(dir, "wasmbrowser")
	smokeTest = filepath.Join(dir, "smoke.test")
	progWasm = filepath.Join(dir, "prog.wasm")
	steps := []struct {
		env  []string
		args []string
	}{
		{nil, []string{"build", "-o", runnerBin, "."}},
		{[]string{"GOOS=js", "GOARCH=wasm"}, []string{"test", "-c", "-o", smokeTest, "./internal/smoke"}},
		{[]string{"GOOS=js", "GOARCH=wasm"}, []string{"build", "-o", progWasm, "./internal/smoke/prog"}},
	}
	for _, s := range steps {
		cmd := exec.Command("go", s.args...)
		cmd.Env = append(os.Environ(), s.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New("go " + strings.Join(s.args, " ") + ": " + err.Error() + "\n" + string(out))
			return
		}
	}
}

type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

func runRunner(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(runnerBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running %s: %v", runnerBin, err)
	}
	t.Logf("wasmbrowser %s: exit %d in %v\n--- stdout:\n%s--- stderr:\n%s", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
	return r
}

func wantContains(t *testing.T, name, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q", name, w)
		}
	}
}

func wantNotContains(t *testing.T, name, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if strings.Contains(got, w) {
			t.Errorf("%s contains %q", name, w)
		}
	}
}

func TestPassingTests(t *testing.T) {
	requireBrowser(t)

	// A WebSocket echo server on loopback that accepts the page's origin.
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{"127.0.0.1:*"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, b, err := c.Read(r.Context())
		if err != nil {
			return
		}
		c.Write(r.Context(), typ, b)
		c.Close(websocket.StatusNormalClosure, "")
	}))
	defer ws.Close()

	r := runRunner(t, []string{
		"SOCKSHIM_SMOKE_VALUE=from the runner",
		"OTHER_SMOKE_VALUE=must not pass",
		"SOCKSHIM_SMOKE_WS_URL=ws" + strings.TrimPrefix(ws.URL, "http"),
	}, smokeTest, "-test.v", "-test.timeout=60s")
	if r.code != 0 {
		t.Errorf("exit code %d, want 0", r.code)
	}
	wantContains(t, "stdout", r.stdout,
		"=== RUN   TestOutput\n",
		"smoke stdout: hello, browser\n",
		"smoke bytes: \xff\x00\xfe end\n", // byte-exact
		`smoke env: SOCKSHIM_SMOKE_VALUE="from the runner"`,
		`smoke env: OTHER_SMOKE_VALUE=""`,
		`smoke env: SOCKSHIM_PAGE_ORIGIN="http://127.0.0.1:`,
		"smoke console.log 42\n",
		"smoke websocket echo: ping\n",
		"--- PASS: TestWebSocket",
		"--- SKIP: TestFail",
		"\nPASS\n",
	)
	wantNotContains(t, "stdout", r.stdout, "smoke stderr", "smoke console.error")
	wantContains(t, "stderr", r.stderr,
		"wasmbrowser: page origin http://127.0.0.1:",
		"smoke stderr: partial line\n",
		"smoke console.error\n",
	)
	wantNotContains(t, "stderr", r.stderr, "smoke stdout")
}

func TestFailingTest(t *testing.T) {
	requireBrowser(t)
	r := runRunner(t, []string{"SOCKSHIM_SMOKE_FAIL=1"}, smokeTest, "-test.run=TestFail", "-test.timeout=60s")
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	wantContains(t, "stdout", r.stdout, "--- FAIL: TestFail", "smoke: failing on purpose", "\nFAIL\n")
	wantContains(t, "stderr", r.stderr, "smoke: about to fail\n")
}

func TestProgram(t *testing.T) {
	requireBrowser(t)
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 0, "prog args: []\n", "prog stderr\n"},
		{[]string{"exit", "7"}, 7, `prog args: ["exit" "7"]`, "prog stderr\n"},
		{[]string{"panic"}, 2, `prog args: ["panic"]`, "panic: prog: panicking on purpose"},
		{[]string{"-timeout=10s", "hang"}, exitTimeout, `prog args: ["hang"]`, "did not exit within the time limit of 10s"}, // room for compiling the wasm on a loaded machine
	} {
		args := []string{progWasm}
		if len(tc.args) > 0 && strings.HasPrefix(tc.args[0], "-timeout") {
			// A runner flag goes before the program.
			args = []string{tc.args[0], progWasm}
			tc.args = tc.args[1:]
		}
		r := runRunner(t, nil, append(args, tc.args...)...)
		if r.code != tc.code {
			t.Errorf("%q: exit code %d, want %d", tc.args, r.code, tc.code)
		}
		wantContains(t, "stdout", r.stdout, tc.stdout)
		wantContains(t, "stderr", r.stderr, tc.stderr)
	}
}

func TestMissingChromium(t *testing.T) {
	requireBrowser(t) // for the build only
	r := runRunner(t, []string{"CHROMIUM=/nonexistent/chromium"}, progWasm)
	if r.code != exitRunner {
		t.Errorf("exit code %d, want %d", r.code, exitRunner)
	}
	wantContains(t, "stderr", r.stderr, "Chromium not found at /nonexistent/chromium", "make deps")
}

func TestTestTimeout(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
		ok   bool
	}{
		{[]string{"-test.v", "-test.timeout=2m0s"}, 2 * time.Minute, true},
		{[]string{"-test.timeout", "5s"}, 5 * time.Second, true},
		{[]string{"--test.timeout=1s"}, time.Second, true},
		{[]string{"-test.v"}, 0, false},
		{[]string{"--", "-test.timeout=1s"}, 0, false},
	} {
		got, ok := testTimeout(tc.args)
		if got != tc.want || ok != tc.ok {
			t.Errorf("testTimeout(%q) = %v, %v; want %v, %v", tc.args, got, ok, tc.want, tc.ok)
		}
	}
}
