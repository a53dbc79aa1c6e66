//go:build !js

package e2e

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
)

// wasmEnv starts what the browser-side tests need and returns their env.
func wasmEnv(t *testing.T) map[string]string {
	url, _ := testutil.Relay(t, nil)
	noLoopback, err := relay.ParseConfig([]byte(`{"apps":[{"id":"web","origins":["http://127.0.0.1:*"],"allowNoOrigin":true,"capabilities":["internetClient"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	denyURL, _ := testutil.Relay(t, &relay.Options{Config: noLoopback})
	// A relay behind a proxy the browser-side test turns into a blackhole
	// with a GET of SOCKSHIM_BLACKHOLE_CTL.
	// Without resume: the test checks how a session ends on a dead network
	// (with resume it would go on over a new connection through the proxy).
	proxied, _ := testutil.Relay(t, &relay.Options{Resume: &relay.ResumeOptions{Disabled: true}})
	p, proxyURL := testutil.NewProxy(t, proxied)
	ctl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		p.Blackhole()
	}))
	t.Cleanup(ctl.Close)
	return map[string]string{
		"SOCKSHIM_BLACKHOLE_RELAY_URL": proxyURL,
		"SOCKSHIM_BLACKHOLE_CTL":       ctl.URL + "/blackhole",
		"SOCKSHIM_RELAY_URL":      url,
		"SOCKSHIM_DENY_RELAY_URL": denyURL,
		"SOCKSHIM_ECHO_ADDR":      testutil.EchoServer(t).String(),
		"SOCKSHIM_PAIR_ADDR":      testutil.PairServer(t).String(),
		"SOCKSHIM_CLOSED_ADDR":    testutil.ClosedPort(t).String(),
	}
}

func TestWasmNode(t *testing.T) {
	t.Parallel()
	execCmd := nodeExec(t)
	wasmTest(t, execCmd, wasmEnv(t), "")
}

// TestWasmBrowser runs internal/e2e/wasmtest in headless Chromium and
// Firefox.
func TestWasmBrowser(t *testing.T) {
	t.Parallel()
	eachBrowser(t, func(t *testing.T, browser, execCmd string) {
		wasmTest(t, execCmd, wasmEnv(t), "")
	})
}
