//go:build !js

// Package edge tests the relay's Cloudflare Workers build (cmd/edge) in real
// workerd: wrangler dev from npm (test/edge/package.json, installed by
// scripts/install-wrangler.sh), our client through it to real servers on
// loopback, the unmodified wisp-js client, a wasm app in Chromium, and the JS
// API (web/sockshim.js) in Chromium (jsapi.mjs). `make test-edge` runs it with
// SOCKSHIM_EDGE=1; elsewhere (`go test ./...`) it is skipped, as that target
// runs it.
package edge

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/internal/wranglerdev"
	"github.com/sockshim/sockshim/shim"
)

// Policies of the Workers under test, in the relay's config format.
const (
	// devPolicy is wrangler.toml's development policy.
	devPolicy = `{"apps":[{"id":"dev","origins":["http://localhost:*","http://127.0.0.1:*"],"allowNoOrigin":true,
		"capabilities":["internetClient","internetClientServer","privateNetworkClientServer"],"loopbackExempt":true}]}`
	// denyPolicy has every capability but no loopback exemption, and a
	// credentialed app (its secret comes from SOCKSHIM_SECRET_CRED_APP)
	// that has it, for pages on https://app.example only.
	denyPolicy = `{"apps":[{"id":"strict","allowNoOrigin":true,
		"capabilities":["internetClient","internetClientServer","privateNetworkClientServer"]},
		{"id":"cred-app","origins":["https://app.example"],"capabilities":["internetClient"],"loopbackExempt":true}]}`
	credSecret = "edge-test-secret"
)

var repoRoot = func() string {
	d, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return d
}()

func need(t *testing.T) {
	t.Helper()
	if os.Getenv("SOCKSHIM_EDGE") != "1" {
		t.Skip("the edge relay tests run in `make test-edge` (SOCKSHIM_EDGE=1), which installs wrangler")
	}
	if _, err := os.Stat(wranglerBin()); err != nil {
		t.Fatalf("wrangler is not installed in test/edge: run scripts/install-wrangler.sh (%v)", err)
	}
}

func wranglerBin() string {
	return filepath.Join(repoRoot, "test", "edge", "node_modules", ".bin", "wrangler")
}

var (
	bundleOnce sync.Once
	bundleDir  string
	bundleErr  error
)

// bundle builds the Worker (as `make edge` does) into a temporary
// directory, once per test binary: never a stale bin/edge.
func bundle(t *testing.T) string {
	t.Helper()
	bundleOnce.Do(func() {
		bundleDir, bundleErr = os.MkdirTemp("", "sockshim-edge-")
		if bundleErr != nil {
			return
		}
		for _, args := range [][]string{
			{"run", "github.com/syumai/workers/cmd/workers-assets-gen", "-mode=go", "-o", bundleDir},
			{"build", "-trimpath", "-ldflags=-s", "-o", filepath.Join(bundleDir, "app.wasm"), "./cmd/edge"},
		} {
			cmd := exec.Command("go", args...)
			cmd.Dir = repoRoot
			if args[0] == "build" {
				cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				bundleErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
	})
	if bundleErr != nil {
		t.Fatal(bundleErr)
	}
	return bundleDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bundleDir != "" {
		os.RemoveAll(bundleDir)
	}
	os.Exit(code)
}

// worker is one wrangler dev (workerd) serving the Worker.
type worker struct {
	*wranglerdev.Worker
}

// startWorker runs the Worker in workerd with policy as its SOCKSHIM_CONFIG,
// on an ephemeral loopback port, offline; it is stopped at the test's end.
// It may run on any goroutine (it does not call t.Fatal).
// secrets go to .dev.vars, where wrangler dev reads a Worker's secrets;
// env is the environment of wrangler and workerd.
func startWorker(t *testing.T, bundle, policy string, secrets map[string]string, env ...string) (*worker, error) {
	dir := t.TempDir()
	toml := fmt.Sprintf("name = \"sockshim-edge-test\"\nmain = %q\ncompatibility_date = \"2026-05-01\"\n\n[vars]\nSOCKSHIM_CONFIG = '''%s'''\n",
		filepath.Join(bundle, "worker.mjs"), policy)
	if err := os.WriteFile(filepath.Join(dir, "wrangler.toml"), []byte(toml), 0o644); err != nil {
		return nil, err
	}
	var vars strings.Builder
	for k, v := range secrets {
		fmt.Fprintf(&vars, "%s=%q\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(dir, ".dev.vars"), []byte(vars.String()), 0o600); err != nil {
		return nil, err
	}
	w, err := wranglerdev.Start(wranglerBin(), dir, env...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		w.Stop()
		if t.Failed() {
			t.Logf("wrangler dev output:\n%s", w.Logs.String())
		}
	})
	return &worker{w}, nil
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func host(t *testing.T, s string) *shim.HostName {
	t.Helper()
	h, err := shim.NewHostName(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// echoOnce sends size random bytes through s and checks the echo by SHA-256.
func echoOnce(t *testing.T, s io.ReadWriter, size int) {
	t.Helper()
	want := make([]byte, size)
	rand.Read(want)
	errc := make(chan error, 1)
	go func() { _, err := s.Write(want); errc <- err }()
	h := sha256.New()
	if _, err := io.CopyN(h, s, int64(size)); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if got, exp := h.Sum(nil), sha256.Sum256(want); !bytes.Equal(got, exp[:]) {
		t.Fatalf("echo of %d bytes: sha256 %x, want %x", size, got, exp)
	}
}

// TestEdge runs every client test against the two Workers (started in
// parallel: each takes a few seconds).
func TestEdge(t *testing.T) {
	need(t)
	b := bundle(t)
	// workerd verifies relay-TLS destinations with the roots OpenSSL finds
	// through SSL_CERT_FILE: this CA's, for the RelayTLS subtest.
	relayCA := testutil.NewCA(t, "sockshim relay-TLS CA")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, relayCA.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	var dev, strict *worker
	var devErr, strictErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); dev, devErr = startWorker(t, b, devPolicy, nil, "SSL_CERT_FILE="+caFile) }()
	go func() {
		defer wg.Done()
		strict, strictErr = startWorker(t, b, denyPolicy, map[string]string{"SOCKSHIM_SECRET_CRED_APP": credSecret})
	}()
	wg.Wait()
	if err := errors.Join(devErr, strictErr); err != nil {
		t.Fatal(err)
	}
	// After every subtest: the Worker never crashed or hung (a Go panic,
	// a callback into an exited Go program, workerd's hung-request error).
	t.Cleanup(func() {
		for _, w := range []*worker{dev, strict} {
			out := w.Logs.String()
			for _, bad := range []string{"panic:", "Go program has already exited", "code had hung", "fatal error:"} {
				if strings.Contains(out, bad) {
					t.Errorf("the Worker logged %q:\n%s", bad, out)
				}
			}
		}
	})
	echo := testutil.EchoServer(t)
	echoPort := strconv.Itoa(echo.Port)

	t.Run("StreamSocketEcho", func(t *testing.T) {
		t.Parallel()
		s := shim.NewStreamSocket(shim.RelayTransport(dev.Wisp, nil))
		if err := s.Connect(ctxT(t, 30*time.Second), host(t, "127.0.0.1"), echoPort); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		echoOnce(t, s, 4<<20)
	})

	t.Run("BundleSize", func(t *testing.T) {
		t.Parallel()
		wasm, err := os.ReadFile(filepath.Join(b, "app.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(wasm)
		zw.Close()
		t.Logf("Worker bundle: app.wasm %d bytes, %d gzip (free plan 3 MB, paid 10 MB)", len(wasm), z.Len())
		if z.Len() >= 3_000_000 {
			t.Errorf("app.wasm is %d bytes gzip, over the Workers free plan's 3 MB: keep what the Worker cannot use (pion, OS sockets, metrics libraries) out of the js build", z.Len())
		}
	})

	t.Run("HalfClose", func(t *testing.T) {
		t.Parallel()
		s := shim.NewStreamSocket(shim.RelayTransport(dev.Wisp, nil))
		if err := s.Connect(ctxT(t, 30*time.Second), host(t, "127.0.0.1"), echoPort); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		msg := []byte("half-close through the edge")
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		if err := s.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(s) // the echo server closes its side after our FIN
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("after CloseWrite: read %q, %v; want %q then EOF", got, err, msg)
		}
	})

	t.Run("TLSInTheClient", func(t *testing.T) {
		t.Parallel()
		ca := testutil.NewCA(t, "sockshim edge test CA")
		srv := testutil.TLSServer(t, ca.ServerCert(t, "localhost", "127.0.0.1"), nil, func(c *tls.Conn) { io.Copy(c, c) })
		s := shim.NewStreamSocket(shim.RelayTransport(dev.Wisp, nil))
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca.RootPEM())
		s.Control().SetTrustedRoots(pool)
		if err := s.ConnectWithProtectionLevel(ctxT(t, 30*time.Second), host(t, "localhost"), strconv.Itoa(srv.Port), shim.ProtectionLevelSsl); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := s.Information().ProtectionLevel; got != shim.ProtectionLevelSsl {
			t.Errorf("protection level %v, want Ssl", got)
		}
		echoOnce(t, s, 1<<20)
	})

	t.Run("ConnectionRefused", func(t *testing.T) {
		t.Parallel()
		closed := testutil.ClosedPort(t)
		s := shim.NewStreamSocket(shim.RelayTransport(dev.Wisp, nil))
		err := s.Connect(ctxT(t, 30*time.Second), host(t, "127.0.0.1"), strconv.Itoa(closed.Port))
		if err == nil {
			s.Close()
			t.Fatal("connect to a closed port succeeded")
		}
		if st := shim.GetStatus(err); st != shim.SocketErrorConnectionRefused {
			t.Fatalf("connect to a closed port: %v, status %v, want ConnectionRefused", err, st)
		}
	})

	t.Run("Denied", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			w       *worker
			host    string
			port    string
			invalid bool // refused as an invalid destination, not by capability
		}{
			{strict, "127.0.0.1", echoPort, false},
			{strict, "127.9.8.7", echoPort, false},
			{strict, "::1", echoPort, false},
			{strict, "::ffff:127.0.0.1", echoPort, false},
			{strict, "64:ff9b::7f00:1", echoPort, false}, // NAT64 of 127.0.0.1
			{strict, "localhost", echoPort, false},
			{strict, "a.localhost", echoPort, false},
			{strict, "169.254.169.254", "80", false}, // metadata
			{strict, "0x7f.0.0.1", echoPort, true},
			{strict, "2130706433", echoPort, true},
			{dev, "127.0.0.1", "25", false},
			{dev, "example.com", "25", false},
		} {
			t.Run(tc.host+":"+tc.port, func(t *testing.T) {
				h, err := shim.NewHostName(tc.host)
				if err != nil {
					if tc.invalid {
						return // refused before it reaches the relay
					}
					t.Fatal(err)
				}
				s := shim.NewStreamSocket(shim.RelayTransport(tc.w.Wisp, nil))
				err = s.Connect(ctxT(t, 30*time.Second), h, tc.port)
				if err == nil {
					s.Close()
					t.Fatalf("connect to %s:%s allowed", tc.host, tc.port)
				}
				want := shim.ErrAccessDenied
				if tc.invalid {
					want = shim.ErrInvalidArgument
				}
				if !errors.Is(err, want) {
					t.Fatalf("connect to %s:%s: %v, want errors.Is %v", tc.host, tc.port, err, want)
				}
			})
		}
	})

	t.Run("OriginAndCredential", func(t *testing.T) {
		t.Parallel()
		// An Origin no app lists: HTTP 403 before the upgrade, as natively.
		_, resp, err := websocket.Dial(ctxT(t, 30*time.Second), strict.Wisp, &websocket.DialOptions{
			HTTPHeader: http.Header{"Origin": {"https://evil.example"}}, Subprotocols: []string{"wisp-v2"}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("upgrade from an unlisted origin: %v (response %v), want 403", err, resp)
		}
		app := http.Header{"Origin": {"https://app.example"}}
		// The secret from the Worker's environment admits the app, whose
		// loopback exemption then lets it reach the echo server.
		s := shim.NewStreamSocket(shim.RelayTransport(strict.Wisp, &shim.RelayOptions{AppID: "cred-app", Secret: credSecret, Header: app}))
		if err := s.Connect(ctxT(t, 30*time.Second), host(t, "127.0.0.1"), echoPort); err != nil {
			t.Fatalf("credentialed app: %v", err)
		}
		echoOnce(t, s, 64<<10)
		s.Close()
		// A wrong secret: the session is refused with CLOSE 0xC0.
		_, err = wispclient.Dial(ctxT(t, 30*time.Second), strict.Wisp, &wispclient.Options{AppID: "cred-app", Secret: "wrong", Header: app})
		var he *wispclient.HandshakeError
		if !errors.As(err, &he) || he.Reason != wisp.ReasonAuthBad {
			t.Errorf("wrong secret: %v, want a handshake refused with 0xC0", err)
		}
		// No credential from an origin only the credentialed app admits: 0xC2.
		_, err = wispclient.Dial(ctxT(t, 30*time.Second), strict.Wisp, &wispclient.Options{Header: app})
		if !errors.As(err, &he) || he.Reason != wisp.ReasonAuthRequired {
			t.Errorf("no credential: %v, want a handshake refused with 0xC2", err)
		}
	})

	t.Run("UDPNotSupported", func(t *testing.T) {
		t.Parallel()
		udp := testutil.UDPEchoServer(t)
		d := shim.NewDatagramSocket(shim.RelayTransport(dev.Wisp, nil))
		err := d.Connect(ctxT(t, 30*time.Second), host(t, "127.0.0.1"), strconv.Itoa(udp.Port))
		if err == nil {
			d.Close()
			t.Fatal("UDP through the edge relay succeeded")
		}
		if !errors.Is(err, shim.ErrNotSupported) || !strings.Contains(err.Error(), "edge relay") {
			t.Fatalf("UDP through the edge relay: %v, want ErrNotSupported naming the edge relay", err)
		}
		d = shim.NewDatagramSocket(shim.RelayTransport(dev.Wisp, nil))
		if err := d.Bind(ctxT(t, 30*time.Second), "0"); !errors.Is(err, shim.ErrNotSupported) || !strings.Contains(err.Error(), "edge relay") {
			d.Close()
			t.Fatalf("bound UDP through the edge relay: %v, want ErrNotSupported naming the edge relay", err)
		}
	})

	t.Run("ListenNotSupported", func(t *testing.T) {
		t.Parallel()
		l := shim.NewStreamSocketListener(shim.RelayTransport(dev.Wisp, nil))
		err := l.BindServiceName(ctxT(t, 30*time.Second), "0")
		if err == nil {
			l.Close()
			t.Fatal("a listener through the edge relay succeeded")
		}
		if !errors.Is(err, shim.ErrNotSupported) || !strings.Contains(err.Error(), "edge relay") {
			t.Fatalf("listen through the edge relay: %v, want ErrNotSupported naming the edge relay", err)
		}
	})

	t.Run("SeventhStreamRefused", func(t *testing.T) {
		t.Parallel()
		tr := shim.RelayTransport(dev.Wisp, nil) // one session for all
		var open []*shim.StreamSocket
		defer func() {
			for _, s := range open {
				s.Close()
			}
		}()
		for i := range 6 {
			s := shim.NewStreamSocket(tr)
			if err := s.Connect(ctxT(t, 30*time.Second), host(t, "127.0.0.1"), echoPort); err != nil {
				t.Fatalf("stream %d of 6: %v", i+1, err)
			}
			open = append(open, s)
		}
		s := shim.NewStreamSocket(tr)
		err := s.Connect(ctxT(t, 30*time.Second), host(t, "127.0.0.1"), echoPort)
		if err == nil {
			s.Close()
			t.Fatal("a 7th simultaneous stream was allowed")
		}
		if !strings.Contains(err.Error(), "6") || !strings.Contains(err.Error(), "edge relay") {
			t.Errorf("7th stream: %v, want an error naming the edge relay's limit of 6", err)
		}
		for _, s := range open {
			echoOnce(t, s, 64<<10) // the six still work
		}
		// Closing one frees its slot.
		open[0].Close()
		open = open[1:]
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := shim.NewStreamSocket(tr)
			err := s.Connect(ctxT(t, 30*time.Second), host(t, "127.0.0.1"), echoPort)
			if err == nil {
				open = append(open, s)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no stream after closing one of six: %v", err)
			}
			time.Sleep(200 * time.Millisecond) // the relay sees the CLOSE asynchronously
		}
	})

	t.Run("RelayTLS", func(t *testing.T) {
		t.Parallel()
		// workerd trusts relayCA (SSL_CERT_FILE above) and does the TLS
		// (connect() with secureTransport "on"); the client sees plaintext.
		srv := testutil.TLSServer(t, relayCA.ServerCert(t, "localhost"), nil, func(c *tls.Conn) { io.Copy(c, c) })
		tr := shim.RelayTransport(dev.Wisp, nil)
		s := shim.NewStreamSocket(tr)
		if err := s.ConnectWithProtectionLevel(ctxT(t, 30*time.Second), host(t, "localhost"), strconv.Itoa(srv.Port), shim.ProtectionLevelRelayTls); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := s.Information().ProtectionLevel; got != shim.ProtectionLevelRelayTls {
			t.Errorf("protection level %v, want RelayTls", got)
		}
		echoOnce(t, s, 256<<10)

		// The same through a Dialer.
		d := &shim.Dialer{Transport: tr, ProtectionLevel: shim.ProtectionLevelRelayTls}
		c, err := d.DialContext(ctxT(t, 30*time.Second), "tcp", "localhost:"+strconv.Itoa(srv.Port))
		if err != nil {
			t.Fatal(err)
		}
		echoOnce(t, c, 64<<10)
		c.Close()

		// What fails: a certificate workerd does not trust, one for another
		// name, a server that does not speak TLS (TCP opens: 0xD5,
		// CertificateIsInvalid), and nothing listening (0x44).
		other := testutil.NewCA(t, "untrusted CA")
		untrusted := testutil.TLSServer(t, other.ServerCert(t, "localhost"), nil, func(c *tls.Conn) { io.Copy(c, c) })
		wrongName := testutil.TLSServer(t, relayCA.ServerCert(t, "elsewhere.example"), nil, func(c *tls.Conn) { io.Copy(c, c) })
		closed := testutil.ClosedPort(t)
		for _, tc := range []struct {
			name   string
			port   int
			reason wisp.CloseReason
			status shim.SocketErrorStatus
		}{
			{"untrusted", untrusted.Port, wisp.ReasonTLSFailed, shim.SocketErrorCertificateIsInvalid},
			{"wrong name", wrongName.Port, wisp.ReasonTLSFailed, shim.SocketErrorCertificateIsInvalid},
			{"no TLS", echo.Port, wisp.ReasonTLSFailed, shim.SocketErrorCertificateIsInvalid},
			{"refused", closed.Port, wisp.ReasonRefused, shim.SocketErrorConnectionRefused},
		} {
			s := shim.NewStreamSocket(tr)
			err := s.ConnectWithProtectionLevel(ctxT(t, 30*time.Second), host(t, "localhost"), strconv.Itoa(tc.port), shim.ProtectionLevelRelayTls)
			if err == nil {
				s.Close()
				t.Errorf("%s: relay TLS connected", tc.name)
				continue
			}
			var ce *wisp.CloseError
			if !errors.As(err, &ce) || ce.Reason != tc.reason || shim.GetStatus(err) != tc.status {
				t.Errorf("%s: %v (status %v), want CLOSE %v and %v", tc.name, err, shim.GetStatus(err), tc.reason, tc.status)
			}
		}
	})

	t.Run("Chromium", func(t *testing.T) {
		t.Parallel()
		runner := os.Getenv("SOCKSHIM_WASMBROWSER")
		if runner == "" {
			t.Fatal("SOCKSHIM_WASMBROWSER is not set: `make test-edge` passes the Chromium runner (bin/wasmbrowser)")
		}
		ca := testutil.NewCA(t, "sockshim edge browser CA")
		srv := testutil.TLSServer(t, ca.ServerCert(t, "127.0.0.1"), nil, func(c *tls.Conn) { io.Copy(c, c) })
		cmd := exec.CommandContext(ctxT(t, 3*time.Minute), "go", "test", "-count=1", "-timeout", "120s", "-exec", runner, "-v", "./test/edge/browser/")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm",
			"SOCKSHIM_EDGE_WISP="+dev.Wisp,
			"SOCKSHIM_ECHO_ADDR="+echo.String(),
			"SOCKSHIM_TLS_ADDR="+srv.String(),
			"SOCKSHIM_TLS_CA_PEM="+string(ca.RootPEM()))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestEdgeFromPage") {
			t.Fatalf("the wasm app in Chromium through the edge relay: %v\n%s", err, out)
		}
	})

	t.Run("JSAPI", func(t *testing.T) {
		t.Parallel()
		// A TLS echo the Worker trusts (relayCA) for secureTransport "relay".
		tlsEcho := testutil.TLSServer(t, relayCA.ServerCert(t, "localhost"), nil, func(c *tls.Conn) { io.Copy(c, c) })
		runJSAPI(t, dev, echo, tlsEcho, relayCA.RootPEM())
	})

	t.Run("WispJS", func(t *testing.T) {
		t.Parallel()
		for _, v := range []string{"1", "2"} {
			res := runWispJS(t, dev.Wisp, "127.0.0.1", echoPort, "--wisp-version="+v, "--bytes="+strconv.Itoa(1<<20), "--streams=3")
			if !strings.Contains(res, `"ok":true`) || !strings.Contains(res, `"negotiated_version":`+v) {
				t.Errorf("wisp-js v%s through the edge relay: %s", v, res)
			}
		}
		closed := testutil.ClosedPort(t)
		if res := runWispJS(t, dev.Wisp, "127.0.0.1", strconv.Itoa(closed.Port), "--expect-close=0x44"); !strings.Contains(res, `"ok":true`) {
			t.Errorf("wisp-js to a closed port: %s (want CLOSE 0x44)", res)
		}
		if res := runWispJS(t, strict.Wisp, "127.0.0.1", echoPort, "--expect-close=0x48"); !strings.Contains(res, `"ok":true`) {
			t.Errorf("wisp-js to a denied address: %s (want CLOSE 0x48)", res)
		}
	})
}

// runWispJS runs test/interop/client.mjs (the unmodified wisp-js client) and
// returns its JSON result line.
func runWispJS(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(repoRoot, "test", "interop")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@mercuryworkshop", "wisp-js", "package.json")); err != nil {
		t.Fatalf("wisp-js is not installed: run scripts/install-npm.sh (%v)", err)
	}
	cmd := exec.CommandContext(ctxT(t, 90*time.Second), "node", append([]string{"client.mjs"}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	if err != nil {
		t.Logf("client.mjs %v: %v\nstderr: %s", args, err, stderr.String())
	}
	return out
}

// runJSAPI runs jsapi.mjs: the JS API (web/sockshim.js, load({relay})) in
// Chromium, in a Worker and in the page, from a page server on 127.0.0.1
// (an origin the dev policy admits) that serves web/ as the relay does;
// tlsEcho is a TLS echo for "localhost" whose CA (caPEM) the Worker trusts.
func runJSAPI(t *testing.T, w *worker, echo, tlsEcho *net.TCPAddr, caPEM []byte) {
	for _, f := range []string{"main.wasm", "wasm_exec.js", "sockshim.js"} {
		if _, err := os.Stat(filepath.Join(repoRoot, "web", f)); err != nil {
			t.Fatalf("web/%s is missing: `make wasm` builds it (%v)", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "test", "jsapi", "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("playwright-core is not installed: run test/jsapi/install.sh (%v)", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/web/", http.StripPrefix("/web/", http.FileServer(http.Dir(filepath.Join(repoRoot, "web")))))
	mux.HandleFunc("/blank.html", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(rw, "<!doctype html><title>sockshim edge JS API</title>")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	cmd := exec.CommandContext(ctxT(t, 4*time.Minute), "node", filepath.Join(repoRoot, "test", "edge", "jsapi.mjs"),
		"http://"+ln.Addr().String(), w.Wisp, echo.IP.String(), strconv.Itoa(echo.Port), strconv.Itoa(tlsEcho.Port))
	cmd.Env = append(os.Environ(), "SOCKSHIM_CA_PEM="+string(caPEM))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("jsapi.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	type rejection struct{ Name, Message, Status string }
	modes := 0
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r struct {
			Worker          bool
			Error           string
			Logs            []string
			Received        int
			SentSHA, GotSHA string
			Remote          string
			UDP             rejection `json:"udp"`
			BoundUDP        rejection `json:"boundUDP"`
			Server          rejection `json:"server"`
			// secureTransport "relay": workerd's connect() does the TLS.
			RelayTLS struct {
				Got, Level string
				Cert       *string
				NoTLS      rejection `json:"noTLS"`
				CaPEM      rejection `json:"caPEM"`
			} `json:"relayTLS"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("jsapi.mjs printed %q: %v", line, err)
		}
		modes++
		mode := map[bool]string{true: "Worker", false: "in-page"}[r.Worker]
		if r.Error != "" {
			t.Errorf("%s: %s\npage console:\n%s", mode, r.Error, strings.Join(r.Logs, "\n"))
			continue
		}
		if r.Received != 4<<20 || r.SentSHA == "" || r.SentSHA != r.GotSHA {
			t.Errorf("%s: TCP echo through the edge relay: %d bytes back, sha256 %s, sent %s", mode, r.Received, r.GotSHA, r.SentSHA)
		}
		if r.Remote != echo.String() {
			t.Errorf("%s: opened.remoteAddress:Port %q, want %s", mode, r.Remote, echo)
		}
		for what, rj := range map[string]rejection{"UDPSocket": r.UDP, "bound UDPSocket": r.BoundUDP, "TCPServerSocket": r.Server} {
			if rj.Name != "NotSupportedError" || !strings.Contains(rj.Message, "edge relay") {
				t.Errorf("%s: %s through the edge relay: %+v, want NotSupportedError naming the edge relay", mode, what, rj)
			}
		}
		rt := r.RelayTLS
		if rt.Got != "relay tls at the edge" || rt.Level != "RelayTls" || rt.Cert != nil {
			t.Errorf("%s: secureTransport \"relay\" through the edge relay: echoed %q, protectionLevel %q, serverCertificate %v; want the text back, RelayTls, none", mode, rt.Got, rt.Level, rt.Cert)
		}
		if rt.NoTLS.Name != "NetworkError" || rt.NoTLS.Status != "CertificateIsInvalid" {
			t.Errorf("%s: secureTransport \"relay\" to a server without TLS: %+v, want NetworkError CertificateIsInvalid", mode, rt.NoTLS)
		}
		if rt.CaPEM.Name != "NotSupportedError" {
			t.Errorf("%s: secureTransport \"relay\" with caPEM: %+v, want NotSupportedError", mode, rt.CaPEM)
		}
		t.Logf("%s: 4 MiB echoed (sha256 %s); relay TLS %s; UDPSocket: %s", mode, r.GotSHA, rt.Level, r.UDP.Message)
	}
	if modes != 2 {
		t.Errorf("jsapi.mjs reported %d modes, want 2 (Worker, in-page):\n%s", modes, stdout.String())
	}
}
