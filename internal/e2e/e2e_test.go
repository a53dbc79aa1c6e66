//go:build !js

// Package e2e runs sockshim end to end: the relay binary as a real process,
// the wasm build under Node and in headless Chromium, and the demo page.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/bidi"
	"github.com/sockshim/sockshim/internal/syncbuf"
)

// repoRoot is the module root, two levels above this package.
var repoRoot = func() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}()

var buildOnce struct {
	sync.Once
	dir string
	err error
}

// builtRelay builds the wasm demo (into web/, as `make wasm` does) and the
// relay binary that embeds it, once per test process.
func builtRelay(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sockshim-e2e-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.dir = dir
		root, err := goroot()
		if err != nil {
			buildOnce.err = err
			return
		}
		steps := [][]string{
			{"go", "build", "-trimpath", "-ldflags=-s", "-o", "web/main.wasm", "./wasm"},
			{"cp", filepath.Join(root, "lib", "wasm", "wasm_exec.js"), "web/wasm_exec.js"},
			{"go", "build", "-o", filepath.Join(dir, "relay"), "./cmd/relay"},
		}
		for i, s := range steps {
			cmd := exec.Command(s[0], s[1:]...)
			cmd.Dir = repoRoot
			cmd.Env = os.Environ()
			if i == 0 {
				cmd.Env = append(cmd.Env, "GOOS=js", "GOARCH=wasm")
			}
			if i == 2 {
				cmd.Env = append(cmd.Env, "CGO_ENABLED=0") // as shipped: pure-Go resolver
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				buildOnce.err = fmt.Errorf("%s: %v\n%s", strings.Join(s, " "), err, out)
				return
			}
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return filepath.Join(buildOnce.dir, "relay")
}

// relayProcess is a running relay binary.
type relayProcess struct {
	cmd    *exec.Cmd
	URL    string // http://127.0.0.1:port
	stderr *syncbuf.Buffer
	exited chan error
	killed atomic.Bool // by kill: cleanup expects no clean exit
}

// kill ends the relay with SIGKILL, as a crash would.
func (r *relayProcess) kill() {
	r.killed.Store(true)
	r.cmd.Process.Kill()
}

// WispURL is the relay's Wisp endpoint.
func (r *relayProcess) WispURL() string { return "ws" + strings.TrimPrefix(r.URL, "http") + "/wisp/" }

// startRelay runs the relay binary with args plus -listen 127.0.0.1:0 and
// waits for its "listening on" line. At cleanup it sends SIGTERM and
// requires a clean exit (graceful shutdown).
func startRelay(t *testing.T, args ...string) *relayProcess {
	t.Helper()
	return startRelayEnv(t, nil, args...)
}

// startRelayEnv is startRelay with env added to the relay's environment.
func startRelayEnv(t *testing.T, env []string, args ...string) *relayProcess {
	t.Helper()
	bin := builtRelay(t)
	cmd := exec.Command(bin, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	r := &relayProcess{cmd: cmd, stderr: &syncbuf.Buffer{}, exited: make(chan error, 1)}
	cmd.Stderr = r.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	urlCh := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if u, ok := strings.CutPrefix(lines.Text(), "sockshim relay listening on "); ok {
				urlCh <- u
			}
		}
		r.exited <- cmd.Wait()
	}()
	select {
	case r.URL = <-urlCh:
	case err := <-r.exited:
		t.Fatalf("relay exited before listening: %v\n%s", err, r.stderr)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("relay did not start\n%s", r.stderr)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-r.exited:
			if err != nil && !r.killed.Load() {
				t.Errorf("relay exit after SIGTERM: %v\n%s", err, r.stderr)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("relay did not shut down within 15 s of SIGTERM\n%s", r.stderr)
		}
	})
	return r
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// require reports a missing prerequisite: a failure when env (set by
// `make test`) demands it, a skip with the reason otherwise.
func require(t *testing.T, env string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(env) == "1" {
		t.Fatalf("%v (required: %s=1)", err, env)
	}
	t.Skipf("%v (set %s=1 to make this a failure)", err, env)
}

// chromiumPath finds Debian's chromium, or $CHROMIUM.
func chromiumPath() (string, error) {
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("chromium not found at %s: run `make deps`", p)
	}
	return p, nil
}

// firefoxPath finds Debian's firefox-esr, or $FIREFOX.
func firefoxPath() (string, error) {
	p := bidi.Binary()
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("firefox not found at %s: run `make deps`", p)
	}
	return p, nil
}

// eachBrowser runs f in a parallel subtest per headless browser (chromium,
// firefox), with the go test -exec command that runs a wasm program in it.
// A missing browser skips its subtest, or fails it when
// SOCKSHIM_REQUIRE_BROWSER=1.
func eachBrowser(t *testing.T, f func(t *testing.T, browser, execCmd string)) {
	t.Helper()
	runner := buildRunner(t)
	for _, b := range []struct {
		name string
		find func() (string, error)
	}{{"chromium", chromiumPath}, {"firefox", firefoxPath}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.find()
			require(t, "SOCKSHIM_REQUIRE_BROWSER", err)
			f(t, b.name, runner+" -browser="+b.name)
		})
	}
}

// wasmTest runs the js/wasm test package internal/e2e/wasmtest with exec
// (a go test -exec runner) and env, and returns its output.
func wasmTest(t *testing.T, execCmd string, env map[string]string, run string) {
	t.Helper()
	args := []string{"test", "-count=1", "-timeout", "120s", "-exec", execCmd, "-v", "./internal/e2e/wasmtest/"}
	if run != "" {
		args = append(args, "-run", run)
	}
	cmd := exec.CommandContext(ctxT(t, 5*time.Minute), "go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("wasm tests (%s):\n%s", execCmd, out)
	if err != nil {
		t.Fatalf("wasm tests failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS") || strings.Contains(string(out), "--- SKIP") {
		t.Fatal("wasm tests did not all run and pass")
	}
}

func buildRunner(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wasmbrowser")
	cmd := exec.Command("go", "build", "-o", bin, "./tools/wasmbrowser")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build wasmbrowser: %v\n%s", err, out)
	}
	return bin
}

func nodeExec(t *testing.T) string {
	t.Helper()
	_, err := exec.LookPath("node")
	require(t, "SOCKSHIM_REQUIRE_NODE", err)
	root, err := goroot()
	if err != nil {
		t.Fatal(err)
	}
	return "node --experimental-websocket --stack-size=8192 " + filepath.Join(root, "lib", "wasm", "wasm_exec_node.js")
}

// goroot is the GOROOT of the go command on $PATH (the one that builds the
// wasm tests), not the one this test binary was built with.
var goroot = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out)), nil
})
