//go:build !js

package e2e

import (
	"crypto/tls"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/testutil"
)

// tlsWasmEnv starts the servers shim/tls_js_test.go needs: a relay, TLS
// echo servers (good, expired, wrong host) from a test CA, and a WebSocket
// server.
func tlsWasmEnv(t *testing.T) map[string]string {
	relayURL, _ := testutil.Relay(t, nil)
	ca := testutil.NewCA(t, "e2e")
	echo := func(c interface {
		Read([]byte) (int, error)
		Write([]byte) (int, error)
	}) {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			c.Write(buf[:n])
		}
	}
	good := testutil.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t)}}, func(c *tls.Conn) { echo(c) })
	expired := testutil.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{ca.ExpiredCert(t)}}, func(c *tls.Conn) { echo(c) })
	wrong := testutil.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t, "other.example")}}, func(c *tls.Conn) { echo(c) })
	ws := httptest.NewServer(wsHandler())
	t.Cleanup(ws.Close)
	env := map[string]string{
		"SOCKSHIM_RELAY_URL":          relayURL,
		"SOCKSHIM_TLS_ADDR":           good.String(),
		"SOCKSHIM_TLS_EXPIRED_ADDR":   expired.String(),
		"SOCKSHIM_TLS_WRONGHOST_ADDR": wrong.String(),
		"SOCKSHIM_TLS_CA_PEM":         string(ca.RootPEM()),
		"SOCKSHIM_WS_URL":             "ws" + strings.TrimPrefix(ws.URL, "http"),
	}
	maps.Copy(env, webSocketWasmEnv(t)) // shim/websocket_browser_js_test.go's server
	return env
}

// wsHandler: /echo echoes (after sending the X-Sockshim-Test header back
// when present) and closes with 4001 "bye" on "close-me"; /requires
// refuses clients that do not offer subprotocol chat.v2.
func wsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"chat.v2"}, InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		if h := r.Header.Get("X-Sockshim-Test"); h != "" {
			c.Write(r.Context(), websocket.MessageText, []byte("X-Sockshim-Test: "+h))
		}
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if string(b) == "close-me" {
				c.Close(4001, "bye")
				return
			}
			c.Write(r.Context(), typ, b)
		}
	})
	mux.HandleFunc("/requires", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Sec-WebSocket-Protocol"), "chat.v2") {
			w.Header().Set("Sec-WebSocket-Protocol", "chat.v2")
			http.Error(w, `this endpoint requires subprotocol "chat.v2"`, http.StatusBadRequest)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"chat.v2"}, InsecureSkipVerify: true})
		if err == nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
	})
	return mux
}

// shimWasmTest runs shim's js tests (TestJS*) with execCmd and env.
func shimWasmTest(t *testing.T, execCmd string, env map[string]string) {
	cmd := exec.CommandContext(ctxT(t, 5*time.Minute), "go", "test", "-count=1", "-timeout", "120s", "-exec", execCmd, "-v", "-run", "TestJS", "./shim/")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	t.Logf("shim wasm tests (%s):\n%s", execCmd, out)
	if err != nil {
		t.Fatalf("shim wasm tests failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestJSConnectTLS") || strings.Contains(string(out), "--- SKIP") {
		t.Fatal("shim wasm tests did not all run and pass")
	}
}

func TestTLSWasmNode(t *testing.T) {
	t.Parallel()
	shimWasmTest(t, nodeExec(t), tlsWasmEnv(t))
}

// TestTLSWasmBrowser runs shim's TestJS* tests in headless Chromium and
// Firefox.
func TestTLSWasmBrowser(t *testing.T) {
	t.Parallel()
	eachBrowser(t, func(t *testing.T, browser, execCmd string) {
		shimWasmTest(t, execCmd, tlsWasmEnv(t))
	})
}
