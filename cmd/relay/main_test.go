//go:build !js

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// The test binary doubles as the relay: a test starts it again with
// SOCKSHIM_RELAY_MAIN=1 and the relay's flags, so each test runs the real
// relay process built from this package's current sources (no separately
// built binary the test cache could not see).
func TestMain(m *testing.M) {
	if os.Getenv("SOCKSHIM_RELAY_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type relayProc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuf
	exited chan error
}

// startRelay runs the relay process with args and waits for its address.
func startRelay(t *testing.T, args ...string) *relayProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "SOCKSHIM_RELAY_MAIN=1")
	p := &relayProc{cmd: cmd, stderr: &syncBuf{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "sockshim relay listening on http://"); ok {
				addr <- a
			}
		}
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	select {
	case p.addr = <-addr:
	case err := <-p.exited:
		t.Fatalf("relay exited at start: %v\n%s", err, p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("relay did not start:\n%s", p.stderr)
	}
	return p
}

func (p *relayProc) url() string { return "ws://" + p.addr + "/wisp/" }

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "relay.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const loopbackConfig = `{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"],"loopbackExempt":true}]}`

func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-h")
	cmd.Env = append(os.Environ(), "SOCKSHIM_RELAY_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("relay -h: %v, want exit 0\n%s", err, out)
	}
	for _, want := range []string{"Usage: relay", "-config", "-grace", "-handshake-timeout", "-peer-timeout"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("relay -h output lacks %q:\n%s", want, out)
		}
	}
}

// TestSIGTERMWithDeafClient: SIGTERM while one client does not read its
// WebSocket (the relay's writes to it are blocked) exits with status 0
// within the grace period.
func TestSIGTERMWithDeafClient(t *testing.T) {
	t.Parallel()
	stalled := make(chan struct{}, 1)
	flood := testutil.Serve(t, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write(buf); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					return
				}
				select { // the relay stopped reading: its write to the client is blocked
				case stalled <- struct{}{}:
				default:
				}
			}
		}
	})
	p := startRelay(t, "-config", writeConfig(t, loopbackConfig), "-grace", "3s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, p.url(), nil) // Wisp v1: no relay-to-client credit
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil { // the first CONTINUE
		t.Fatal(err)
	}
	c.Write(ctx, websocket.MessageBinary, wisp.Append(nil, &wisp.Packet{Type: wisp.TypeConnect, StreamID: 1, StreamType: wisp.StreamTCP, Host: "127.0.0.1", Port: flood.AddrPort().Port()}))
	// Never read again.
	select {
	case <-stalled:
	case <-time.After(20 * time.Second):
		t.Fatal("the flood never filled the deaf client's buffers")
	}
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("relay exit after SIGTERM: %v, want status 0\n%s", err, p.stderr)
		}
		t.Logf("exited %v after SIGTERM", time.Since(start))
		// The relay forces what is left at 0.9 x grace; a second of slack
		// covers signal delivery and process exit on a loaded machine.
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("exit took %v, grace 3 s\n%s", d, p.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("relay still running 10 s after SIGTERM (grace 3 s)\n%s", p.stderr)
	}
	p.exited <- nil // for the cleanup
	if !strings.Contains(p.stderr.String(), "relay: stopped") {
		t.Errorf("no orderly stop in the log:\n%s", p.stderr)
	}
}

// TestSIGHUPReachesOpenSessions: a reload by SIGHUP applies to a session
// that is already open: its next stream is decided by the new policy, and
// when its app is removed the session is closed with the auth reason.
func TestSIGHUPReachesOpenSessions(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	path := writeConfig(t, loopbackConfig)
	p := startRelay(t, "-config", path)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := wispclient.Dial(ctx, p.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Open(ctx, wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port()); err != nil {
		t.Fatal(err)
	}
	reload := func(body string, n int) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		p.cmd.Process.Signal(syscall.SIGHUP)
		for deadline := time.Now().Add(20 * time.Second); strings.Count(p.stderr.String(), "config reloaded") < n; {
			if time.Now().After(deadline) {
				t.Fatalf("no reload logged:\n%s", p.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	reload(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"]}]}`, 1)
	_, err = s.Open(ctx, wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port())
	var ce *wisp.CloseError
	if !errors.As(err, &ce) || ce.Reason != wisp.ReasonBlocked {
		t.Fatalf("stream after SIGHUP removed the loopback exemption: %v, want blocked", err)
	}
	reload(`{"apps":[{"id":"b","allowNoOrigin":true,"capabilities":["internetClient"]}]}`, 2)
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("session of a removed app still open after SIGHUP")
	}
	var he *wispclient.SessionClosedError
	if !errors.As(s.Err(), &he) || he.Reason != wisp.ReasonAuthBad {
		t.Fatalf("session error %v, want %v", s.Err(), wisp.ReasonAuthBad)
	}
}

// TestConfigErrorsSayWhere: a broken config stops the relay with exit 1 and
// one line naming the file, line, column and key, prefixed "relay:" once;
// a config without apps is refused too.
func TestConfigErrorsSayWhere(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"{\n \"apps\": [{\"id\": \"a\", \"allowNoOrigin\": true,\n  \"limits\": {\"maxStreamz\": 1}}]}": ":3:14: apps[0].limits.maxStreamz: unknown key",
		`{"apps":[{"id":"a","allowNoOrigin":true}`:                                                      ":1:41: apps: unexpected end of the file",
		`{}`: ": apps: no app is configured",
	}
	for body, want := range cases {
		path := writeConfig(t, body)
		cmd := exec.Command(os.Args[0], "-config", path, "-listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "SOCKSHIM_RELAY_MAIN=1")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("config %q: %v, want exit status 1\n%s", body, err, out)
			continue
		}
		line := strings.TrimSpace(string(out))
		if !strings.HasPrefix(line, "relay: "+path+want) || strings.Count(line, "relay:") != 1 {
			t.Errorf("config %q: printed\n\t%s\nwant\n\trelay: %s%s...", body, line, path, want)
		}
	}
}
