//go:build !js

package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

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
		"SOCKSHIM_RELAY_URL":           url,
		"SOCKSHIM_DENY_RELAY_URL":      denyURL,
		"SOCKSHIM_ECHO_ADDR":           testutil.EchoServer(t).String(),
		"SOCKSHIM_PAIR_ADDR":           testutil.PairServer(t).String(),
		"SOCKSHIM_CLOSED_ADDR":         testutil.ClosedPort(t).String(),
		"SOCKSHIM_WS_SCRIPT_URL":       scriptedWebSocket(t),
	}
}

// Messages of scriptedWebSocket, checked by wasmtest's TestWSMsgConn.
const (
	scriptedBigLen   = 200 << 10 // larger than wsmsg's pooled buffers
	scriptedText     = "text message"
	scriptedCode     = 4000
	scriptedReason   = "script done"
	scriptedProtocol = "sockshim-test"
)

// scriptedWebSocket serves a WebSocket (for wsmsg.Conn in the browser)
// that sends a 200 KiB binary message (byte i = i*7), a text message and
// a binary echo of the first message it receives, then closes with code
// 4000.
func scriptedWebSocket(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols: []string{scriptedProtocol}, OriginPatterns: []string{"127.0.0.1:*"},
		})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		big := make([]byte, scriptedBigLen)
		for i := range big {
			big[i] = byte(i * 7)
		}
		if c.Write(ctx, websocket.MessageBinary, big) != nil || c.Write(ctx, websocket.MessageText, []byte(scriptedText)) != nil {
			return
		}
		_, in, err := c.Read(ctx)
		if err != nil || c.Write(ctx, websocket.MessageBinary, in) != nil {
			return
		}
		c.Close(scriptedCode, scriptedReason)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "ws://" + ln.Addr().String() + "/"
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
