//go:build !js

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
)

// brokerPage serves internal/e2e/wasmbroker, built for js/wasm, as a page.
func brokerPage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.CommandContext(ctxT(t, 3*time.Minute), "go", "build", "-o", filepath.Join(dir, "broker.wasm"), "./internal/e2e/wasmbroker")
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build wasmbroker: %v\n%s", err, out)
	}
	root, err := goroot()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><body><script src="wasm_exec.js"></script><script>
const go = new Go();
WebAssembly.instantiateStreaming(fetch("broker.wasm"), go.importObject)
  .then(r => go.run(r.instance))
  .catch(e => { document.body.dataset.transfer = document.body.dataset.reclaim = "FAIL: " + e; });
</script></body>`)
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(root, "lib", "wasm", "wasm_exec.js"))
	})
	mux.HandleFunc("/broker.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, filepath.Join(dir, "broker.wasm"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// TestBrokerBrowserReload: Go compiled to wasm in headless Chromium and
// Firefox transfers a connected StreamSocket and a bound
// StreamSocketListener to the relay's broker; the tab closes (its session
// ends, resume off as for a closed tab); while nobody is there the stream's
// peer sends 3 MiB (the broker holds 1 MiB, TCP flow control the rest) and
// a client connects to the held listener and sends a request; a new tab of
// the same app lists the sockets, reclaims them, and reads every byte in
// order (sha256 equal, the unread greeting from before the transfer first)
// and the request; the reclaimed listener accepts again on its port.
func TestBrokerBrowserReload(t *testing.T) {
	t.Parallel()
	pageURL := brokerPage(t)
	for _, b := range []struct {
		name string
		find func() (string, error)
	}{{"chromium", chromiumPath}, {"firefox", firefoxPath}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.find()
			require(t, "SOCKSHIM_REQUIRE_BROWSER", err)
			testBrokerBrowserReload(t, pageURL, brokerTabs(t, b.name))
		})
	}
}

// tabOpener opens url in a new tab of one browser and waits for the page's
// result in document.body.dataset[phase]; closeTab closes the tab.
type tabOpener func(t *testing.T, url, phase string) (result string, closeTab func())

// brokerTabs starts browser on about:blank; each page of the app is a tab
// of its own, which closes (a navigation could keep the page in the
// back-forward cache, its WebSocket open).
func brokerTabs(t *testing.T, browser string) tabOpener {
	p := openPage(t, browser, "about:blank")
	if browser != "firefox" {
		ctx := p.(cdpPage).ctx
		return func(t *testing.T, url, phase string) (string, func()) { return brokerTab(t, ctx, url, phase) }
	}
	b := p.(*bidiPage).b
	return func(t *testing.T, url, phase string) (string, func()) {
		t.Helper()
		ctx := ctxT(t, 90*time.Second)
		tab, err := b.NewTab(ctx)
		if err != nil {
			t.Fatalf("open a tab for the %s page: %v", phase, err)
		}
		closeTab := sync.OnceFunc(func() {
			if err := tab.Close(ctx); err != nil {
				t.Errorf("close the %s tab: %v", phase, err)
			}
		})
		t.Cleanup(closeTab)
		if err := tab.Navigate(ctx, url); err != nil {
			t.Fatalf("open the %s page: %v", phase, err)
		}
		var out string
		if err := tab.Poll(ctx, `document.body.dataset.`+phase+` || ""`, &out); err != nil || strings.HasPrefix(out, "FAIL") {
			t.Fatalf("%s page: %s %v", phase, out, err)
		}
		return out, closeTab
	}
}

func testBrokerBrowserReload(t *testing.T, pageURL string, openTab tabOpener) {
	pre := []byte("greeting before the transfer\n")
	big := make([]byte, 3<<20)
	rand.Read(big)
	want := sha256.Sum256(append(append([]byte(nil), pre...), big...))
	send := make(chan struct{})
	closeSend := sync.OnceFunc(func() { close(send) })
	peer := testutil.Serve(t, func(c net.Conn) {
		c.Write(pre)
		b := make([]byte, 5)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
			return
		}
		<-send
		c.Write(big)
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	})
	t.Cleanup(closeSend) // before Serve's cleanup, which waits for the handler
	// Resume off: a closed tab's session ends with its WebSocket (with
	// resume it would wait out the resume window; README, "Background
	// sockets", says how the two meet).
	relayURL, srv := testutil.Relay(t, &relay.Options{Resume: &relay.ResumeOptions{Disabled: true}})

	q := url.Values{"phase": {"transfer"}, "relay": {relayURL}, "peer": {peer.String()}}
	out, closeTab := openTab(t, pageURL+"?"+q.Encode(), "transfer")
	var transferred struct{ Port string }
	if err := json.Unmarshal([]byte(out), &transferred); err != nil {
		t.Fatalf("transfer page result %q: %v", out, err)
	}

	// The app goes away: its tab closes, and with it its session.
	closeTab()
	waitFor(t, "the page's session to end", func() bool { return srv.Stats().Sessions == 0 })
	closeSend()
	away, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", transferred.Port))
	if err != nil {
		t.Fatalf("dial the held listener: %v", err)
	}
	defer away.Close()
	away.Write([]byte("GET / while away"))
	away.(*net.TCPConn).CloseWrite()
	waitFor(t, "the broker to hold 1 MiB and the accepted request", func() bool {
		return brokerMetric(t, srv, "sockshim_broker_held_bytes") == float64(1<<20+len("GET / while away")) &&
			brokerMetric(t, srv, "sockshim_broker_accepted_total") == 1
	})

	q.Set("phase", "reclaim")
	out, _ = openTab(t, pageURL+"?"+q.Encode(), "reclaim")
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("reclaim page result %q: %v", out, err)
	}
	for k, v := range map[string]string{
		"chatKind": "StreamSocket", "chatReason": "SocketActivity", "chatContext": "room 7", "chatTask": "chat-task",
		"webKind": "StreamSocketListener", "webReason": "ConnectionAccepted",
		"awayKind": "StreamSocket", "awayReason": "SocketClosed", "awayTask": "web-task",
		"away": "GET / while away", "webPort": transferred.Port,
		"chatSHA256": hex.EncodeToString(want[:]),
	} {
		if got[k] != v {
			t.Errorf("reclaimed %s = %q, want %q (bytes read: %s)", k, got[k], v, got["chatBytes"])
		}
	}
	away.SetReadDeadline(time.Now().Add(30 * time.Second))
	if b, err := io.ReadAll(away); err != nil || string(b) != "200 from the reloaded page" {
		t.Errorf("the client of the held listener read %q, %v", b, err)
	}
	again, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", transferred.Port))
	if err != nil {
		t.Fatalf("dial the reclaimed listener: %v", err)
	}
	defer again.Close()
	again.SetReadDeadline(time.Now().Add(30 * time.Second))
	if b, err := io.ReadAll(again); err != nil || string(b) != "again" {
		t.Errorf("the reclaimed listener's connection read %q, %v", b, err)
	}
	if n := brokerMetric(t, srv, "sockshim_broker_held_sockets"); n != 0 {
		t.Errorf("sockshim_broker_held_sockets = %v after the reclaims", n)
	}
}

// brokerTab opens url in a new tab of browser and waits for the page's
// result in document.body.dataset[phase]; closeTab closes the tab.
func brokerTab(t *testing.T, browser context.Context, url, phase string) (result string, closeTab func()) {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open the %s page: %v", phase, err)
	}
	out, err := chromedp.Run(tab, chromedp.Poll[string](`document.body.dataset.`+phase+` || ""`))
	if err != nil || strings.HasPrefix(out, "FAIL") {
		t.Fatalf("%s page: %s %v", phase, out, err)
	}
	return out, cancel
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// brokerMetric reads one unlabelled value of the relay's /metrics.
func brokerMetric(t *testing.T, srv *relay.Server, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s = %q: %v", name, v, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not in /metrics", name)
	return 0
}
