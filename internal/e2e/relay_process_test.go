//go:build !js

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/shim"
)

// TestRelayProcessNativeClient: the relay binary, a real TCP echo server and
// our native client through it.
func TestRelayProcessNativeClient(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	r := startRelay(t, "-dev")
	resp, err := http.Get(r.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	s := shim.NewStreamSocket(shim.RelayTransport(r.WispURL(), nil))
	h, _ := shim.NewHostName("127.0.0.1")
	if err := s.Connect(ctxT(t, 10*time.Second), h, strconv.Itoa(echo.Port)); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := bytes.Repeat([]byte("sockshim"), 128<<10) // 1 MiB
	go s.Write(want)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("echo through the relay process: %v", err)
	}
	resp, err = http.Get(r.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"sockshim_streams_opened_total 1\n", "sockshim_sessions_open 1\n", `sockshim_policy_decisions_total{reason="allowed"} 1` + "\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// TestRelayFlags: the binary refuses to start without a policy and with a
// broken config, with a clear message.
func TestRelayFlags(t *testing.T) {
	t.Parallel()
	bin := builtRelay(t)
	broken := filepath.Join(t.TempDir(), "broken.json")
	os.WriteFile(broken, []byte(`{"apps":[{"id":"x","capabilities":["internetClinet"],"allowNoOrigin":true}]}`), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "no policy"},
		{[]string{"-config", broken}, `unknown capability "internetClinet"`},
		{[]string{"-config", "/nonexistent.json"}, "no such file"},
		{[]string{"-dev", "-config", broken}, "exclude each other"},
	} {
		out, err := exec.Command(bin, c.args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("relay %v: err=%v output %q, want it to contain %q", c.args, err, out, c.want)
		}
	}
}

// TestSIGHUPReload: a new config applies to new sessions without dropping
// open ones; a broken one is refused and the old policy kept.
func TestSIGHUPReload(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	cfgPath := filepath.Join(t.TempDir(), "relay.json")
	allow := `{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"],"loopbackExempt":true}]}`
	deny := `{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"]}]}`
	os.WriteFile(cfgPath, []byte(allow), 0o600)
	r := startRelay(t, "-config", cfgPath)
	h, _ := shim.NewHostName("127.0.0.1")
	port := strconv.Itoa(echo.Port)

	open := shim.NewStreamSocket(shim.RelayTransport(r.WispURL(), nil))
	if err := open.Connect(ctxT(t, 10*time.Second), h, port); err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	hup := func(cfg string) {
		os.WriteFile(cfgPath, []byte(cfg), 0o600)
		before := strings.Count(r.stderr.String(), "config reload")
		r.cmd.Process.Signal(syscall.SIGHUP)
		for i := 0; strings.Count(r.stderr.String(), "config reload") == before; i++ {
			if i > 200 {
				t.Fatalf("no reload logged\n%s", r.stderr)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	hup(deny)
	err := shim.NewStreamSocket(shim.RelayTransport(r.WispURL(), nil)).Connect(ctxT(t, 10*time.Second), h, port)
	if !errors.Is(err, shim.ErrAccessDenied) {
		t.Fatalf("after reload to a policy without loopback: %v, want ErrAccessDenied", err)
	}
	// The session opened before the reload still works.
	if _, err := open.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(open, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("open stream after reload: %q %v", buf, err)
	}
	hup(`{"apps":[`) // broken: refused, old policy kept
	if !strings.Contains(r.stderr.String(), "config reload failed") {
		t.Fatalf("broken reload not reported\n%s", r.stderr)
	}
}

// TestDemoPage: `make run`'s page, served by the relay binary, loads the
// wasm build in headless Chromium and Firefox and echoes through the relay
// using the default transport (the page's own origin).
func TestDemoPage(t *testing.T) {
	t.Parallel()
	for _, browser := range []string{"chromium", "firefox"} {
		t.Run(browser, func(t *testing.T) {
			t.Parallel()
			testDemoPage(t, browser)
		})
	}
}

func testDemoPage(t *testing.T, browser string) {
	r := startRelay(t, "-dev", "-v")
	p := openPage(t, browser, r.URL+"/")
	state, err := p.poll(`document.body.dataset.demo`)
	if err != nil {
		t.Fatalf("demo page never finished: %v\nrelay log:\n%s", err, r.stderr)
	}
	out, err := p.eval(`document.getElementById("out").innerText`)
	if err != nil {
		t.Fatal(err)
	}
	tlsOut, err := p.eval(`document.getElementById("tls").innerText`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tlsOut, "hello over TLS; you asked: GET /hello HTTP/1.0") || !strings.Contains(tlsOut, "sockshim dev TLS") {
		t.Errorf("TLS demo output:\n%s", tlsOut)
	}
	dout, err := p.eval(`document.getElementById("datagram").innerText`)
	if err != nil || strings.Count(dout, "echo: datagram") != 6 {
		t.Errorf("datagram demo output (%v):\n%s", err, dout)
	}
	// LowLatency took the data channel: the relay's peer connected. Firefox
	// offers no loopback ICE candidate (see internal/bidi.TestPrefs), so on
	// this machine its datagrams take the WebSocket.
	peerConnected := regexp.MustCompile(`msg="relay: WebRTC peer" .*state=connected`)
	for i := 0; browser == "chromium" && !peerConnected.MatchString(r.stderr.String()); i++ {
		if i == 100 {
			t.Fatalf("the demo's DatagramSocket never connected a WebRTC peer; relay log:\n%s", r.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The page's listener answers a real HTTP client on this machine.
	port, err := p.poll(`document.body.dataset.listenPort`)
	if err != nil {
		t.Fatalf("no listener port on the page: %v", err)
	}
	for i := 1; i <= 2; i++ {
		resp, err := http.Get("http://127.0.0.1:" + port + "/from-go")
		if err != nil {
			t.Fatalf("GET the page's listener: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("hello from a browser tab (connection #%d)\n", i); string(body) != want {
			t.Fatalf("listener answered %q, want %q", body, want)
		}
	}
	lout, _ := p.eval(`document.getElementById("listener").innerText`)
	if !strings.Contains(lout, "GET /from-go HTTP/1.1") {
		t.Errorf("listener log:\n%s", lout)
	}
	// Go's net/http in the tab through shim.Dialer reached the dev HTTP
	// server over a tunnelled TCP connection (its User-Agent is Go's, not
	// the browser's: no fetch); a port with no server says so.
	hout, _ := p.eval(`document.getElementById("http").innerText`)
	if state != "ok" || !strings.Contains(out, "echo: hello from a browser tab via sockshim") {
		t.Fatalf("demo state %q, output:\n%s\nnet/http demo:\n%s", state, out, hout)
	}
	if !strings.Contains(hout, "HTTP/1.1 200 OK (text/plain; charset=utf-8): hello from Go's net/http") || !strings.Contains(hout, `HTTP/1.1 /from-the-tab with User-Agent "Go-http-client/1.1"`) {
		t.Errorf("net/http demo output:\n%s", hout)
	}
	closed := testutil.ClosedPort(t)
	if _, err := p.eval(fmt.Sprintf(`(document.getElementById("httpurl").value = "http://%s/", document.getElementById("httpform").requestSubmit(), "")`, closed)); err != nil {
		t.Fatal(err)
	}
	refused, err := p.poll(`(t => t.includes("ConnectionRefused") ? t : "")(document.getElementById("http").innerText)`)
	if err != nil || !strings.Contains(refused, "nothing is listening there") {
		t.Errorf("net/http demo against a closed port (%v):\n%s", err, refused)
	}
}
