//go:build !js

package shim_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// brokerRelay is an in-process relay with the dev app and broker settings b,
// and a proxy in front, so a test can cut its first session like a closed
// tab (the proxy's Reset).
func brokerRelay(t *testing.T, b relay.BrokerConfig) (direct string, p *testutil.Proxy, proxied string, srv *relay.Server) {
	cfg := relay.DevConfig()
	cfg.Apps[0].Broker = b
	// A closed tab does not come back: without resume its session ends
	// when its WebSocket does (with resume, the client would reconnect).
	direct, srv = testutil.Relay(t, &relay.Options{Config: cfg, Resume: &relay.ResumeOptions{Disabled: true}})
	p, proxied = testutil.NewProxy(t, direct)
	return direct, p, proxied, srv
}

// closeTab cuts every WebSocket through p and waits until the relay holds
// no session: the app is gone.
func closeTab(t *testing.T, p *testutil.Proxy, srv *relay.Server) {
	t.Helper()
	p.Reset()
	waitUntil(t, func() bool { return srv.Stats().Sessions == 0 })
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metric(t *testing.T, srv *relay.Server, name string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("metric %s not in /metrics", name)
	return ""
}

func allSockets(t *testing.T, tr shim.Transport) map[string]*shim.SocketActivityInformation {
	t.Helper()
	m, err := shim.AllSockets(ctxT(t), tr)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBrokerStreamSurvivesReload: a connected StreamSocket is transferred
// with bytes it received and never read; the tab goes away; the peer sends
// 3 MiB while nobody is there (the broker holds 1 MiB, TCP holds back the
// rest); a new transport (a reloaded page) lists the socket with its reason
// and context, reclaims it, and reads every byte, in order.
func TestBrokerStreamSurvivesReload(t *testing.T) {
	t.Parallel()
	pre := []byte("unread before the transfer\n")
	big := make([]byte, 3<<20)
	rand.Read(big)
	want := sha256.Sum256(append(append([]byte(nil), pre...), big...))
	send := make(chan struct{})
	fromClient := make(chan string, 1)
	peer := testutil.Serve(t, func(c net.Conn) {
		c.Write(pre)
		b := make([]byte, 5)
		io.ReadFull(c, b)
		fromClient <- string(b)
		select {
		case <-send:
		case <-time.After(time.Minute):
			return
		}
		c.Write(big)
		c.(*net.TCPConn).CloseWrite()
		io.ReadAll(c) // until the reclaimed socket closes
	})
	_, proxy, url, srv := brokerRelay(t, relay.BrokerConfig{})

	tab := shim.RelayTransport(url, nil)
	s := shim.NewStreamSocket(tab)
	s.EnableTransferOwnership("task-1")
	if err := s.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(peer.Port)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got := <-fromClient; got != "hello" {
		t.Fatalf("peer read %q", got)
	}
	// pre has arrived in the client (or is on its way): it must survive.
	time.Sleep(50 * time.Millisecond)
	if err := s.TransferOwnership("chat", &shim.TransferOptions{Context: []byte("ctx-bytes")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after TransferOwnership: %v, want net.ErrClosed", err)
	}
	closeTab(t, proxy, srv)
	close(send)

	page := shim.RelayTransport(url, nil)
	var info *shim.SocketActivityInformation
	waitUntil(t, func() bool {
		info = allSockets(t, page)["chat"]
		return info != nil && info.Buffered == 1<<20
	})
	if info.SocketKind != shim.SocketActivityKindStreamSocket || info.Reason != shim.TriggerReasonSocketActivity ||
		info.TaskID != "task-1" || string(info.Context) != "ctx-bytes" {
		t.Fatalf("AllSockets: %+v", info)
	}
	if got := metric(t, srv, "sockshim_broker_held_bytes"); got != "1.048576e+06" {
		t.Errorf("sockshim_broker_held_bytes = %s, want %d (the per-socket bound)", got, 1<<20)
	}
	if got := metric(t, srv, "sockshim_broker_held_sockets"); got != "1" {
		t.Errorf("sockshim_broker_held_sockets = %s, want 1", got)
	}
	r, err := info.StreamSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	first := make([]byte, len(pre))
	if _, err := io.ReadFull(r, first); err != nil || !bytes.Equal(first, pre) {
		t.Fatalf("reclaimed socket starts with %q, %v; want the unread %q", first, err, pre)
	}
	h.Write(first)
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatal(err)
	}
	if got := [32]byte(h.Sum(nil)); got != want {
		t.Fatalf("reclaimed %d bytes, sha256 differs from the %d the peer sent", n, len(pre)+len(big))
	}
	if _, err := info.StreamSocket(); err == nil {
		t.Fatal("a second reclaim succeeded")
	}
	if m := allSockets(t, page); len(m) != 0 {
		t.Fatalf("after the reclaim AllSockets = %v", m)
	}
	if got := metric(t, srv, "sockshim_broker_held_sockets"); got != "0" {
		t.Errorf("sockshim_broker_held_sockets = %s after the reclaim", got)
	}
}

// TestBrokerListenerAcceptsWhileAway: a transferred listener accepts while
// no session exists; the connection and what it sent are held, then both
// are reclaimed, and the reclaimed listener accepts again.
func TestBrokerListenerAcceptsWhileAway(t *testing.T) {
	t.Parallel()
	_, proxy, url, srv := brokerRelay(t, relay.BrokerConfig{})
	tab := shim.RelayTransport(url, nil)
	l := shim.NewStreamSocketListener(tab)
	if err := l.BindEndpoint(ctxT(t), host(t, "127.0.0.1"), ""); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", l.Information().LocalPort)
	l.EnableTransferOwnership("task-ln")
	if err := l.TransferOwnership("web", nil); err != nil {
		t.Fatal(err)
	}
	closeTab(t, proxy, srv)

	c, err := net.Dial("tcp", addr) // the app is away
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / while away"))
	c.(*net.TCPConn).CloseWrite()

	page := shim.RelayTransport(url, nil)
	var all map[string]*shim.SocketActivityInformation
	waitUntil(t, func() bool {
		all = allSockets(t, page)
		return all["web/1"] != nil && all["web/1"].Reason == shim.TriggerReasonSocketClosed
	})
	if ln := all["web"]; ln == nil || ln.SocketKind != shim.SocketActivityKindStreamSocketListener || ln.Reason != shim.TriggerReasonConnectionAccepted {
		t.Fatalf("listener entry: %+v", all["web"])
	}
	if a := all["web/1"]; a.SocketKind != shim.SocketActivityKindStreamSocket || a.TaskID != "task-ln" {
		t.Fatalf("accepted entry: %+v", a)
	}
	s, err := all["web/1"].StreamSocket()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "GET / while away" {
		t.Fatalf("reclaimed connection read %q, %v", b, err)
	}
	s.Write([]byte("200"))
	s.Close()
	if got, _ := io.ReadAll(c); string(got) != "200" {
		t.Fatalf("peer read %q from the reclaimed connection", got)
	}

	rl, err := all["web"].StreamSocketListener()
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	if rl.Information().LocalPort != strings.TrimPrefix(addr, "127.0.0.1:") {
		t.Fatalf("reclaimed listener on port %s, want %s", rl.Information().LocalPort, addr)
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got, err := rl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got.Close()
}

// heldPeer is a TCP server whose connections report when they end.
func heldPeer(t *testing.T) (*net.TCPAddr, chan struct{}) {
	ended := make(chan struct{}, 4)
	return testutil.Serve(t, func(c net.Conn) {
		io.Copy(io.Discard, c)
		ended <- struct{}{}
	}), ended
}

func transferNew(t *testing.T, tr shim.Transport, peer *net.TCPAddr, id string) error {
	t.Helper()
	s := shim.NewStreamSocket(tr)
	t.Cleanup(func() { s.Close() })
	if err := s.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(peer.Port)); err != nil {
		t.Fatal(err)
	}
	s.EnableTransferOwnership("")
	return s.TransferOwnership(id, nil)
}

// TestBrokerLeaseExpiry: a held socket nobody reclaims is closed when its
// lease ends: the peer sees the close, the broker lists nothing.
func TestBrokerLeaseExpiry(t *testing.T) {
	t.Parallel()
	peer, ended := heldPeer(t)
	_, _, url, srv := brokerRelay(t, relay.BrokerConfig{TTLSeconds: 1})
	tr := shim.RelayTransport(url, nil)
	if err := transferNew(t, tr, peer, "short"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the peer's connection outlived the 1 s lease")
	}
	if m := allSockets(t, tr); len(m) != 0 {
		t.Fatalf("after expiry AllSockets = %v", m)
	}
	waitUntil(t, func() bool { return metric(t, srv, "sockshim_broker_expired_total") == "1" })
}

// TestBrokerLimits: past the app's maxSockets a transfer is refused with
// CLOSE throttled, and the refused socket stays usable.
func TestBrokerLimits(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	_, _, url, _ := brokerRelay(t, relay.BrokerConfig{MaxSockets: 1})
	tr := shim.RelayTransport(url, nil)
	if err := transferNew(t, tr, echo, "one"); err != nil {
		t.Fatal(err)
	}
	s := echoSocket(t, tr, echo)
	s.EnableTransferOwnership("")
	err := s.TransferOwnership("two", nil)
	var ce *wisp.CloseError
	if !errors.As(err, &ce) || ce.Reason != wisp.ReasonThrottled {
		t.Fatalf("second transfer: %v, want CLOSE throttled", err)
	}
	if err := s.TransferOwnership("one", nil); !errors.As(err, &ce) || ce.Reason != wisp.ReasonInvalid {
		t.Fatalf("transfer under an id in use: %v, want CLOSE invalid", err)
	}
	if _, err := s.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if b := make([]byte, 2); func() error { _, err := io.ReadFull(s, b); return err }() != nil || string(b) != "ok" {
		t.Fatal("the refused socket no longer echoes")
	}
}

// TestBrokerAppIsolation: what app a holds, app b neither lists nor
// reclaims by id; app a's next session does.
func TestBrokerAppIsolation(t *testing.T) {
	t.Parallel()
	peer, _ := heldPeer(t)
	cfg := relay.DevConfig()
	a := cfg.Apps[0]
	a.ID, a.Secret = "a", "secret-a"
	b := a
	b.ID, b.Secret = "b", "secret-b"
	cfg.Apps = []relay.AppConfig{a, b}
	url, _ := testutil.Relay(t, &relay.Options{Config: cfg})
	trA := shim.RelayTransport(url, &shim.RelayOptions{AppID: "a", Secret: "secret-a"})
	trB := shim.RelayTransport(url, &shim.RelayOptions{AppID: "b", Secret: "secret-b"})
	if err := transferNew(t, trA, peer, "mine"); err != nil {
		t.Fatal(err)
	}
	if m := allSockets(t, trB); len(m) != 0 {
		t.Fatalf("app b sees %v", m)
	}
	sb, err := wispclient.Dial(ctxT(t), url, &wispclient.Options{AppID: "b", Secret: "secret-b"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	_, err = sb.Reclaim(ctxT(t), "mine")
	var ce *wisp.CloseError
	if !errors.As(err, &ce) || ce.Reason != wisp.ReasonInvalid {
		t.Fatalf("app b reclaiming app a's socket: %v, want CLOSE invalid", err)
	}
	again := shim.RelayTransport(url, &shim.RelayOptions{AppID: "a", Secret: "secret-a"})
	m := allSockets(t, again)
	if m["mine"] == nil {
		t.Fatalf("app a's new session lists %v", m)
	}
	s, err := m["mine"].StreamSocket()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestBrokerShutdownClosesHeld: a relay shutdown closes held sockets.
func TestBrokerShutdownClosesHeld(t *testing.T) {
	t.Parallel()
	peer, ended := heldPeer(t)
	_, _, url, srv := brokerRelay(t, relay.BrokerConfig{})
	if err := transferNew(t, shim.RelayTransport(url, nil), peer, "x"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("a held socket outlived the relay's shutdown")
	}
	if got := metric(t, srv, "sockshim_broker_held_sockets"); got != "0" {
		t.Errorf("sockshim_broker_held_sockets = %s after shutdown", got)
	}
}

// TestBrokerNotSupported: a transport without a broker says so.
func TestBrokerNotSupported(t *testing.T) {
	t.Parallel()
	if _, err := shim.AllSockets(ctxT(t), shim.DirectTransport(nil)); !errors.Is(err, shim.ErrNotSupported) {
		t.Fatalf("AllSockets(DirectTransport): %v", err)
	}
	echo := testutil.EchoServer(t)
	s := echoSocket(t, shim.DirectTransport(nil), echo)
	s.EnableTransferOwnership("")
	if err := s.TransferOwnership("d", nil); !errors.Is(err, shim.ErrNotSupported) || !strings.Contains(err.Error(), "RelayTransport") {
		t.Fatalf("TransferOwnership on DirectTransport: %v", err)
	}
	d := shim.NewDatagramSocket(shim.DirectTransport(nil))
	defer d.Close()
	if err := d.Bind(ctxT(t), ""); err != nil {
		t.Fatal(err)
	}
	d.EnableTransferOwnership("")
	if err := d.TransferOwnership("u", nil); !errors.Is(err, shim.ErrNotSupported) {
		t.Fatalf("DatagramSocket.TransferOwnership on DirectTransport: %v", err)
	}
	if !bytes.Equal([]byte(shim.TriggerReasonSocketClosed.String()), []byte("SocketClosed")) || shim.SocketActivityTriggerReason(0).String() != "Unknown" {
		t.Fatal("SocketActivityTriggerReason names")
	}
}
