//go:build !js

package e2e

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	resumeBrowserMiB = flag.Int("resume-browser-mib", 64, "MiB each way in all in TestResumeBrowser")
	// FIN, RST and a blackhole, twice each. The blackhole is noticed by
	// the page's keepalive (PeerTimeout 3 s) and the relay's
	// (-resume-dead-after 3s).
	resumeBrowserKills = 6
)

// gatedEcho is an echo server that counts the bytes it echoed (all
// connections) and echoes no further than allowed: the harness uses it to
// kill the WebSocket at known points of a transfer, and to be sure every
// kill happens before the transfer can end.
type gatedEcho struct {
	ln       net.Listener
	progress atomic.Int64
	allowed  atomic.Int64
	wg       sync.WaitGroup
}

func newGatedEcho(t *testing.T) *gatedEcho {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &gatedEcho{ln: ln}
	e.allowed.Store(math.MaxInt64)
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		e.wg.Wait()
	})
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					for e.progress.Load() >= e.allowed.Load() {
						time.Sleep(5 * time.Millisecond)
					}
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
						e.progress.Add(int64(n))
					}
					if err != nil {
						if err == io.EOF {
							c.(*net.TCPConn).CloseWrite()
						}
						return
					}
				}
			}()
		}
	}()
	return e
}

// TestResumeBrowser: in headless Chromium and Firefox, a page's
// StreamSockets (Go wasm, shim.RelayTransport) keep streaming through a
// real relay process while the test kills the WebSocket six times, by
// "restarting" the proxy in front of the relay (its connections cut with
// FIN or RST, or blackholed: left open and forwarding nothing; new ones
// refused for a moment): 64 MiB each way through 10
// streams, every stream's sha256 is
// equal at the end (internal/e2e/wasmresume checks it in the page), and the
// relay counted every resume.
func TestResumeBrowser(t *testing.T) {
	t.Parallel()
	eachBrowser(t, func(t *testing.T, browser, execCmd string) {
		echo := newGatedEcho(t)
		r := startRelay(t, "-dev", "-resume-dead-after", "3s")
		p := newCutProxy(t, hostPort(r))
		total := int64(*resumeBrowserMiB) << 20
		kills := resumeBrowserKills

		killerDone := make(chan error, 1)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			killerDone <- func() error {
				for i := 1; i <= kills; i++ {
					at := int64(i) * total / int64(kills+1)
					// Echo up to 1 MiB past the kill point meanwhile: the
					// kill comes mid-stream, and before the transfer can end.
					echo.allowed.Store(at + 1<<20)
					for echo.progress.Load() < at {
						select {
						case <-stop:
							return fmt.Errorf("kill %d: the transfer stopped at %d of %d bytes", i, echo.progress.Load(), total)
						case <-time.After(5 * time.Millisecond):
						}
					}
					mode := []string{"fin", "rst", "blackhole"}[(i-1)%3]
					p.setRefuse(true) // the proxy is down for a moment
					n := p.cut(mode)
					time.Sleep(300 * time.Millisecond)
					p.setRefuse(false)
					cutAt := time.Now()
					deadline := cutAt.Add(60 * time.Second)
					for {
						got, err := metricValue(r.URL, "sockshim_resumes_total")
						if err != nil {
							return err
						}
						if got >= int64(i) {
							break
						}
						if time.Now().After(deadline) {
							return fmt.Errorf("kill %d (%s, %d connections): the relay counted no resume within 60 s", i, mode, n)
						}
						time.Sleep(20 * time.Millisecond)
					}
					t.Logf("%s kill %d (%s, %d connections cut) at %d MiB echoed: resumed %v after the proxy came back",
						cutAt.Format("15:04:05.000"), i, mode, n, echo.progress.Load()>>20, time.Since(cutAt).Round(time.Millisecond))
				}
				echo.allowed.Store(math.MaxInt64)
				return nil
			}()
		}()

		args := []string{"test", "-count=1", "-timeout", "300s", "-exec", execCmd, "-v", "./internal/e2e/wasmresume/"}
		cmd := exec.CommandContext(ctxT(t, 6*time.Minute), "go", args...)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm",
			"SOCKSHIM_RESUME_RELAY_URL="+p.URL(),
			"SOCKSHIM_ECHO_ADDR="+echo.ln.Addr().String(),
			"SOCKSHIM_RESUME_KILLS="+strconv.Itoa(kills),
			"SOCKSHIM_RESUME_STREAMS=10",
			"SOCKSHIM_RESUME_PEER_TIMEOUT=3s",
			"SOCKSHIM_RESUME_MIB="+strconv.Itoa(*resumeBrowserMiB))
		out, err := cmd.CombinedOutput()
		t.Logf("wasmresume in %s:\n%s", browser, out)
		select {
		case kerr := <-killerDone:
			if kerr != nil {
				t.Error(kerr)
			}
		default:
			t.Errorf("the page's test ended before the %d kills were done", kills)
		}
		if err != nil {
			t.Fatalf("wasmresume failed: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: TestStreamsSurviveKills") {
			t.Fatal("TestStreamsSurviveKills did not run and pass")
		}
		if got := metric(t, r.URL, "sockshim_resumes_total"); got < int64(kills) {
			t.Errorf("the relay counted %d resumes, want %d", got, kills)
		}
		t.Logf("%s: relay replayed %d bytes to the page", browser, metric(t, r.URL, "sockshim_resume_replayed_bytes_total"))
	})
}
