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

// TestWasmDatagramBrowser runs the browser-side DatagramSocket tests
// (internal/e2e/wasmdgram) in headless Chromium and Firefox: UDP echo over
// the WebSocket and over a WebRTC data channel, and a DNS query to a DNS
// server on loopback. The runner lets each browser use loopback ICE
// candidates (Chromium: --allow-loopback-in-peer-connection; Firefox: the
// prefs in internal/bidi.TestPrefs). The relay counts the datagrams that
// arrive on data channels, so a silent fallback to the WebSocket fails.
func TestWasmDatagramBrowser(t *testing.T) {
	t.Parallel()
	eachBrowser(t, func(t *testing.T, browser, execCmd string) {
		// Firefox gathers no loopback ICE candidate (it keeps only the
		// default route's address without camera or microphone permission),
		// so on loopback its datagrams take the WebSocket;
		// TestWasmDatagramFirefoxNetns checks its data channel instead.
		testWasmDatagram(t, browser, execCmd, "lo", browser == "chromium")
	})
}

// testWasmDatagram runs internal/e2e/wasmdgram in browser with execCmd. The
// relay's WebRTC peer gathers ICE candidates on iface; wantChannel says
// whether the LowLatency sockets must reach the relay on a data channel.
func testWasmDatagram(t *testing.T, browser, execCmd, iface string, wantChannel bool) {
	url, _ := testutil.Relay(t, nil)
	rtcLog := &syncbuf.Buffer{}
	rtcURL, rtcRelay := testutil.Relay(t, &relay.Options{
		WebRTC: &relay.WebRTCOptions{Loopback: iface == "lo", Interfaces: []string{iface}, UDP4Only: true},
		Logger: slog.New(slog.NewTextHandler(rtcLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	env := map[string]string{
		"SOCKSHIM_RELAY_URL":     url,
		"SOCKSHIM_RTC_RELAY_URL": rtcURL,
		"SOCKSHIM_UDP_ECHO":      testutil.UDPEchoServer(t).String(),
		"SOCKSHIM_DNS_ADDR":      testutil.DNSServer(t).String(),
		"SOCKSHIM_DNS_WANT":      testutil.DNSAnswer.String(),
	}
	cmd := exec.CommandContext(ctxT(t, 5*time.Minute), "go", "test", "-count=1", "-timeout", "120s", "-exec", execCmd, "-v", "./internal/e2e/wasmdgram/")
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
	// The LowLatency sockets must really have used a data channel: the
	// peer connected, and most of their 40 datagrams (20 connected, 20
	// bound) arrived on it. A few may go over the WebSocket while the
	// channel opens.
	if !wantChannel {
		if n := rtcRelay.Stats().DataChannelDatagrams; n != 0 {
			t.Errorf("%d datagrams arrived on a data channel from %s on loopback; update the test and the README", n, browser)
		}
		return
	}
	if !strings.Contains(rtcLog.String(), "state=connected") {
		t.Errorf("the browser's WebRTC peer never connected to the relay:\n%s", rtcLog)
	}
	n := rtcRelay.Stats().DataChannelDatagrams
	t.Logf("%d of 40 datagrams arrived on the data channel", n)
	if n < 20 {
		t.Errorf("%d datagrams of 40 arrived on the data channel, want at least 20 (the rest fell back to the WebSocket)", n)
	}
}
