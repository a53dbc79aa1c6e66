//go:build !js

package e2e

import (
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/syncbuf"
	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
)

// TestWasmDatagramChromium runs the browser-side DatagramSocket tests
// (internal/e2e/wasmdgram) in headless Chromium: UDP echo over the
// WebSocket and over a WebRTC data channel (the runner passes
// --allow-loopback-in-peer-connection), and a DNS query to a DNS server on
// loopback.
func TestWasmDatagramChromium(t *testing.T) {
	t.Parallel()
	_, err := chromiumPath()
	require(t, "SOCKSHIM_REQUIRE_BROWSER", err)
	url, _ := testutil.Relay(t, nil)
	rtcLog := &syncbuf.Buffer{}
	rtcURL, _ := testutil.Relay(t, &relay.Options{
		WebRTC: &relay.WebRTCOptions{Loopback: true, Interfaces: []string{"lo"}, UDP4Only: true},
		Logger: slog.New(slog.NewTextHandler(rtcLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	runner := buildRunner(t)
	env := map[string]string{
		"SOCKSHIM_RELAY_URL":     url,
		"SOCKSHIM_RTC_RELAY_URL": rtcURL,
		"SOCKSHIM_UDP_ECHO":      testutil.UDPEchoServer(t).String(),
		"SOCKSHIM_DNS_ADDR":      testutil.DNSServer(t).String(),
		"SOCKSHIM_DNS_WANT":      testutil.DNSAnswer.String(),
	}
	cmd := exec.CommandContext(ctxT(t, 5*time.Minute), "go", "test", "-count=1", "-timeout", "120s", "-exec", runner, "-v", "./internal/e2e/wasmdgram/")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("wasm datagram tests:\n%s", out)
	if err != nil {
		t.Fatalf("wasm datagram tests failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestDNSQueryFromBrowser") || !strings.Contains(string(out), "--- PASS: TestDatagramSocketFromBrowser") {
		t.Fatal("wasm datagram tests did not all run and pass")
	}
	// The LowLatency sockets must really have used a data channel.
	if !strings.Contains(rtcLog.String(), "state=connected") {
		t.Errorf("the browser's WebRTC peer never connected to the relay:\n%s", rtcLog)
	}
}
