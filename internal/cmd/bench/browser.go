//go:build !js

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// goBuild builds pkg for js/wasm (when wasm) or natively into out.
func goBuild(out, pkg string, wasm bool, flags ...string) error {
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, pkg)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if wasm {
		cmd.Env = append(cmd.Env, "GOOS=js", "GOARCH=wasm")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// bundleGzip builds the demo's wasm (./wasm) as `make wasm` does and
// returns its size compressed with gzip -9.
func bundleGzip(tmp string) (int64, error) {
	out := filepath.Join(tmp, "demo.wasm")
	if err := goBuild(out, "./wasm", true, "-trimpath", "-ldflags=-s"); err != nil {
		return 0, err
	}
	gz, err := exec.Command("gzip", "-9", "-c", out).Output()
	if err != nil {
		return 0, fmt.Errorf("gzip: %v", err)
	}
	return int64(len(gz)), nil
}

// runInBrowser builds pkg for js/wasm and runs it in headless Chromium
// through runner (extra: runner flags), for about d, with env added; it
// returns the program's stdout and stderr.
func runInBrowser(tmp, runner, pkg string, d time.Duration, extra, env []string) (stdout, stderr []byte, err error) {
	runner, err = ensureRunner(tmp, runner)
	if err != nil {
		return nil, nil, err
	}
	prog := filepath.Join(tmp, filepath.Base(pkg)+".wasm")
	if err := goBuild(prog, pkg, true); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	args := append([]string{"-timeout", (d + 90*time.Second).String()}, extra...)
	cmd := exec.CommandContext(ctx, runner, append(args, prog)...)
	cmd.Env = append(os.Environ(), env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	return out, errb.Bytes(), err
}

// browserStream runs internal/cmd/bench/wasm in headless Chromium: one
// StreamSocket session through the relay, the same bulk echo as natively.
func browserStream(tmp, runner string, relayURL string, echoPort uint16, streams, payload int, d time.Duration) (float64, error) {
	out, stderr, err := runInBrowser(tmp, runner, "./internal/cmd/bench/wasm", d, nil, []string{
		"SOCKSHIM_RELAY_URL=" + relayURL,
		fmt.Sprintf("SOCKSHIM_ECHO_ADDR=127.0.0.1:%d", echoPort),
		"SOCKSHIM_BENCH_DURATION=" + d.String(),
		"SOCKSHIM_BENCH_STREAMS=" + strconv.Itoa(streams),
		"SOCKSHIM_BENCH_PAYLOAD=" + strconv.Itoa(payload),
	})
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "stream_mibps="); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err == nil {
		err = errors.New("no result line")
	}
	return 0, fmt.Errorf("browser run: %v\n%s%s", err, out, lastLines(string(stderr), 10))
}

// ensureRunner returns the Chromium runner, built into tmp when runner
// does not exist.
func ensureRunner(tmp, runner string) (string, error) {
	if _, err := os.Stat(runner); err == nil {
		return runner, nil
	}
	built := filepath.Join(tmp, "wasmbrowser")
	if _, err := os.Stat(built); err == nil {
		return built, nil
	}
	return built, goBuild(built, "./internal/cmd/wasmbrowser", false)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
