//go:build js

// Package wasmtest runs the integration scenarios compiled to wasm in
// headless Chromium, through the relay. The native harness
// (integration/wasm_test.go, TestWasmChromium) starts the servers and the
// relay and passes their addresses in SOCKSHIM_* variables; a missing
// variable is a failure, not a skip.
package wasmtest

import (
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/sockshim/sockshim/integration/scenario"
	"github.com/sockshim/sockshim/shim"
)

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run these tests through the integration module's TestWasmChromium", name)
	}
	return v
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func dialer(t *testing.T) *shim.Dialer {
	return &shim.Dialer{Transport: shim.RelayTransport(env(t, "SOCKSHIM_RELAY_URL"), nil), Timeout: 30 * time.Second}
}

func roots(t *testing.T) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM([]byte(env(t, "SOCKSHIM_CA_PEM"))) {
		t.Fatal("SOCKSHIM_CA_PEM holds no certificate")
	}
	return p
}

func TestPostgres(t *testing.T) {
	scenario.Postgres(t, ctx(t), dialer(t), env(t, "SOCKSHIM_PG_ADDR"), roots(t))
}

func TestSSH(t *testing.T) {
	key, err := ssh.ParsePrivateKey([]byte(env(t, "SOCKSHIM_SSH_KEY")))
	if err != nil {
		t.Fatal(err)
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(env(t, "SOCKSHIM_SSH_HOST_KEY")))
	if err != nil {
		t.Fatal(err)
	}
	scenario.SSH(t, ctx(t), dialer(t), env(t, "SOCKSHIM_SSH_ADDR"), env(t, "SOCKSHIM_SSH_USER"), key, hostKey, env(t, "SOCKSHIM_SSH_DIR"))
}

func TestRedis(t *testing.T) {
	scenario.Redis(t, ctx(t), dialer(t), env(t, "SOCKSHIM_REDIS_ADDR"))
}

// TestHTTP: with a DialContext, Go's js net/http takes the dialer (real
// TCP and TLS through the relay) instead of the browser's fetch; the
// scenario counts every dial.
func TestHTTP(t *testing.T) {
	scenario.HTTP(t, ctx(t), dialer(t), env(t, "SOCKSHIM_HTTP_URL"), env(t, "SOCKSHIM_HTTPS_URL"), roots(t), env(t, "SOCKSHIM_BIG_SHA256"))
}

// TestHTTPWithoutDialerUsesFetch is the control: a plain http.Transport in
// a page uses fetch, which the browser refuses for nginx (another origin,
// no CORS headers). So TestHTTP's success is the dialer's, not fetch's.
func TestHTTPWithoutDialerUsesFetch(t *testing.T) {
	req, _ := http.NewRequestWithContext(ctx(t), "GET", env(t, "SOCKSHIM_HTTP_URL")+"/index.html", nil)
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("fetch reached nginx across origins without CORS: %s %q", resp.Status, body)
	}
	if !strings.Contains(err.Error(), "fetch") {
		t.Errorf("error %q does not come from fetch", err)
	}
	t.Logf("without a DialContext: %v", err)
}

// TestHTTPServerInTheTab: ListenConfig.Listen opens a port on the relay
// for this tab, net/http serves on it from the tab, and a net/http client
// reaches it through the relay: both ends of HTTP in the page.
func TestHTTPServerInTheTab(t *testing.T) {
	d := dialer(t)
	ln, err := (&shim.ListenConfig{Transport: d.Transport}).Listen(ctx(t), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served from a browser tab: "+r.URL.Path)
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	}()
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx(t), "GET", "http://"+ln.Addr().String()+"/hello", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "served from a browser tab: /hello" {
		t.Fatalf("%s %q", resp.Status, body)
	}
	t.Logf("GET http://%s/hello: %q", ln.Addr(), body)
}
