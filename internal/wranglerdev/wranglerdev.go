//go:build !js

// Package wranglerdev runs `wrangler dev`: the edge relay (cmd/edge) in a
// local workerd, offline (no metrics, no cf fetch, no banner), on an
// ephemeral loopback port. The tests and the bench use it alike.
package wranglerdev

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/sockshim/sockshim/internal/syncbuf"
)

// Worker is one running wrangler dev.
type Worker struct {
	URL  string          // http://127.0.0.1:port
	Wisp string          // ws://127.0.0.1:port/wisp/
	PGID int             // wrangler's process group: wrangler and its workerd
	Logs *syncbuf.Buffer // wrangler's output (its first MiB)

	exited chan struct{}
}

var ready = regexp.MustCompile(`Ready on (http://127\.0\.0\.1:\d+)`)

// Start runs wrangler (the binary's path) in dir, where the caller wrote
// wrangler.toml (and .dev.vars for secrets), with env added to this
// process's environment, and waits up to 90 s for it to serve.
func Start(wrangler, dir string, env ...string) (*Worker, error) {
	cmd := exec.Command(wrangler, "dev", "--ip", "127.0.0.1", "--port", "0", "--inspector-port", "0",
		"--show-interactive-dev-session=false", "--persist-to", filepath.Join(dir, "state"), "--log-level", "info")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WRANGLER_SEND_METRICS=false", "WRANGLER_HIDE_BANNER=true", "CLOUDFLARE_CF_FETCH_ENABLED=false",
		"WRANGLER_LOG_PATH="+filepath.Join(dir, "logs"), "NO_COLOR=1")
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // wrangler and its workerd, stopped together
	w := &Worker{Logs: &syncbuf.Buffer{Max: 1 << 20}, exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = io.MultiWriter(pw, w.Logs), w.Logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w.PGID = cmd.Process.Pid
	go func() { cmd.Wait(); pw.Close(); close(w.exited) }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case u := <-found:
		w.URL, w.Wisp = u, "ws"+strings.TrimPrefix(u, "http")+"/wisp/"
		return w, nil
	case <-w.exited:
		return nil, fmt.Errorf("wrangler dev exited before it was ready:\n%s", w.Logs.String())
	case <-time.After(90 * time.Second):
		w.Stop()
		return nil, fmt.Errorf("wrangler dev not ready after 90 s:\n%s", w.Logs.String())
	}
}

// Stop ends wrangler and its workerd: SIGTERM to the group, SIGKILL after
// 10 s.
func (w *Worker) Stop() {
	syscall.Kill(-w.PGID, syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-w.PGID, syscall.SIGKILL)
		<-w.exited
	}
}
