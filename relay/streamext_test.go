//go:build !js

package relay_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/relay"
)

// TestHalfClose: request, CloseWrite, full response; and the other way: the
// destination's EOF reads as io.EOF while the client still writes.
func TestHalfClose(t *testing.T) {
	t.Parallel()
	response := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	// Reads the whole request, then answers and closes.
	reqResp := testutil.Serve(t, func(c net.Conn) {
		req, _ := io.ReadAll(c)
		c.Write(append([]byte(strings.ToUpper(string(req))), response...))
	})
	// Says hello, shuts its write side, then reports what it reads.
	got := make(chan []byte, 1)
	helloFirst := testutil.Serve(t, func(c net.Conn) {
		c.Write([]byte("hello"))
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		got <- b
	})
	url, _ := testutil.Relay(t, nil)
	s := dial(t, url, nil)

	t.Run("client first", func(t *testing.T) {
		st, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", reqResp.AddrPort().Port())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		st.Write([]byte("get /"))
		if err := st.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write([]byte("x")); !errors.Is(err, wispclient.ErrWriteClosed) {
			t.Errorf("Write after CloseWrite: %v, want ErrWriteClosed", err)
		}
		b, err := io.ReadAll(st)
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte("GET /"), response...); !bytes.Equal(b, want) {
			t.Fatalf("read %d bytes, want %d", len(b), len(want))
		}
	})
	t.Run("destination first", func(t *testing.T) {
		st, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", helloFirst.AddrPort().Port())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		b, err := io.ReadAll(st)
		if err != nil || string(b) != "hello" {
			t.Fatalf("read %q, %v; want hello, EOF", b, err)
		}
		if _, err := st.Write([]byte("world")); err != nil {
			t.Fatalf("Write after the destination's FIN: %v", err)
		}
		if err := st.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if b := <-got; string(b) != "world" {
			t.Fatalf("destination read %q, want world", b)
		}
	})
}

// TestPlainClientFullClose: without the half-close extension, the
// destination's EOF still closes the stream as before.
func TestPlainClientFullClose(t *testing.T) {
	t.Parallel()
	srv := testutil.Serve(t, func(c net.Conn) { c.Write([]byte("bye")) })
	url, _ := testutil.Relay(t, nil)
	r := rawDial(t, url, true)
	r.connect(1, srv.AddrPort().Port())
	var data []byte
	for {
		p := r.read()
		switch p.Type {
		case wisp.TypeData:
			data = append(data, p.Data...)
			continue
		case wisp.TypeClose:
			if string(data) != "bye" || p.Reason != wisp.ReasonVoluntary {
				t.Fatalf("got %q then CLOSE %v", data, p.Reason)
			}
			return
		case wisp.TypeOpened, wisp.TypeContinue:
			continue
		}
		t.Fatalf("unexpected %v", p.Type)
	}
}

// TestHeadOfLine: ten streams on one session, one never read. The other
// nine read everything, and what the relay and the client hold for the
// stalled stream stays within the window: asserted on bytes, never time.
func TestHeadOfLine(t *testing.T) {
	t.Parallel()
	const perStream = 4 << 20
	const window = 64 << 10
	payload := bytes.Repeat([]byte{'z'}, perStream)
	srv := testutil.Serve(t, func(c net.Conn) { c.Write(payload) })
	url, rs := testutil.Relay(t, nil)
	s := dial(t, url, &wispclient.Options{Window: window})
	stalled, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", srv.AddrPort().Port())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	var wg sync.WaitGroup
	for range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", srv.AddrPort().Port())
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			n, err := io.Copy(io.Discard, st)
			if err != nil || n != perStream {
				t.Errorf("read %d bytes, %v; want %d", n, err, perStream)
			}
		}()
	}
	wg.Wait()
	stats := rs.Stats()
	t.Logf("relay stats after the nine: %+v; stalled stream buffers %d bytes in the client", stats, stalled.Buffered())
	if stats.MaxStreamInFlightBytes > window {
		t.Errorf("a stream has %d bytes unacknowledged, window %d", stats.MaxStreamInFlightBytes, window)
	}
	if stats.MaxStreamBufferedBytes > 64<<10 {
		t.Errorf("the relay holds %d bytes for one stream, want at most one 64 KiB read", stats.MaxStreamBufferedBytes)
	}
	if b := stalled.Buffered(); b > window {
		t.Errorf("the client buffers %d bytes for the stalled stream, window %d", b, window)
	}
	// The stalled stream still works: it reads everything once read.
	n, err := io.Copy(io.Discard, stalled)
	if err != nil || n != perStream {
		t.Fatalf("stalled stream read %d bytes, %v; want %d", n, err, perStream)
	}
}

// lyingBinder opens real loopback listeners whose accepted connections claim
// to come from a chosen peer, to test accept-time policy from loopback.
type lyingBinder struct {
	mu   sync.Mutex
	peer netip.AddrPort
}

func (b *lyingBinder) set(p string) { b.mu.Lock(); b.peer = netip.MustParseAddrPort(p); b.mu.Unlock() }

func (b *lyingBinder) Listen(ctx context.Context, network, addr string) (net.Listener, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, network, addr)
	return lyingListener{ln, b}, err
}

type lyingListener struct {
	net.Listener
	b *lyingBinder
}

func (l lyingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	return lyingConn{c.(*net.TCPConn), net.TCPAddrFromAddrPort(l.b.peer)}, nil
}

type lyingConn struct {
	*net.TCPConn
	peer net.Addr
}

func (c lyingConn) RemoteAddr() net.Addr { return c.peer }

// waitFor polls cond until it holds; it fails the test after 10 s. It waits
// for an event, it does not measure time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx := ctxT(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition never held")
		case <-time.After(time.Millisecond):
		}
	}
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestListener(t *testing.T) {
	t.Parallel()
	cfg := mustParse(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClientServer"],"loopbackExempt":true,
		"listen":{"addresses":["127.0.0.1"],"ports":"1024-65535"}}]}`)
	binder := &lyingBinder{}
	binder.set("203.0.113.9:4000") // placeholder, set per case below
	var logs logBuf
	url, rs := testutil.Relay(t, &relay.Options{Config: cfg, Binder: binder, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	s := dial(t, url, nil)
	l, err := s.Listen(ctxT(t), "", 0, wisp.ListenNoDelay)
	if err != nil {
		t.Fatal(err)
	}
	b := l.Bound()
	if !b.Bound.Addr().IsLoopback() || b.Bound.Port() == 0 || b.ReachableHost != "127.0.0.1" || b.ReachablePort != b.Bound.Port() {
		t.Fatalf("bound %+v", b)
	}
	if got := rs.Stats().Listeners; got != 1 {
		t.Errorf("Stats().Listeners = %d, want 1", got)
	}

	// A peer the app may accept: an internet address (internetClientServer).
	binder.set("8.8.8.8:50000")
	c, err := net.Dial("tcp", b.Bound.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := l.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.ID()&wisp.RelayStreamBit == 0 {
		t.Errorf("accepted stream id %#x lacks the high bit", st.ID())
	}
	if got := st.RemoteAddr().String(); got != "8.8.8.8:50000" {
		t.Errorf("RemoteAddr %s", got)
	}
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(st, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("accepted stream read %q, %v", buf, err)
	}
	st.Write([]byte("pong"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
	// Half-close on an accepted stream.
	st.CloseWrite()
	if _, err := c.Read(buf); err != io.EOF {
		t.Errorf("peer read after CloseWrite: %v, want EOF", err)
	}
	st.Close()

	// A private peer without privateNetworkClientServer: closed, logged.
	binder.set("192.168.7.7:50000")
	c2, err := net.Dial("tcp", b.Bound.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if n, err := c2.Read(buf); err == nil {
		t.Fatalf("denied peer read %d bytes", n)
	}
	if !strings.Contains(logs.String(), "accept denied") || !strings.Contains(logs.String(), "private_network") {
		t.Errorf("no accept denial with its reason in the log:\n%s", logs.String())
	}

	// Close releases the port: binding it again on the same session works.
	l.Close()
	waitFor(t, func() bool { return rs.Stats().Listeners == 0 })
	l2, err := s.Listen(ctxT(t), "127.0.0.1", b.Bound.Port(), 0)
	if err != nil {
		t.Fatalf("rebinding port %d: %v", b.Bound.Port(), err)
	}
	l2.Close()
}

// TestListenerLifetime: a listener dies with its session, its port is free
// at once, and the app binds the same port again from a new session.
func TestListenerLifetime(t *testing.T) {
	t.Parallel()
	url, rs := testutil.Relay(t, nil)
	s, err := wispclient.Dial(ctxT(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Listen(ctxT(t), "127.0.0.1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Bound().Bound.String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	waitFor(t, func() bool { return rs.Stats().Listeners == 0 && rs.Stats().Sessions == 0 })
	if _, err := l.Accept(ctxT(t)); !errors.Is(err, wispclient.ErrSessionLost) {
		t.Errorf("Accept after the session ended: %v, want ErrSessionLost", err)
	}
	if _, err := st.Write([]byte("x")); err == nil {
		t.Error("accepted stream still writes after its session ended")
	}
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("accepted peer read %d bytes after the session ended", n)
	}
	c.Close()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts after its session ended", addr)
	}
	s2 := dial(t, url, nil)
	l2, err := s2.Listen(ctxT(t), "127.0.0.1", l.Bound().Bound.Port(), 0)
	if err != nil {
		t.Fatalf("binding %s again: %v", addr, err)
	}
	defer l2.Close()
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
}

// TestListenerBindPolicy: the addresses and ports of the config, and a
// bound port cannot be taken twice.
func TestListenerBindPolicy(t *testing.T) {
	t.Parallel()
	cfg := mustParse(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["privateNetworkClientServer"],"loopbackExempt":true,
		"listen":{"addresses":["127.0.0.1"],"ports":"1024-65535","publicHost":"relay.example","maxListeners":2}}]}`)
	url, _ := testutil.Relay(t, &relay.Options{Config: cfg})
	s := dial(t, url, nil)
	l, err := s.Listen(ctxT(t), "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b := l.Bound(); b.ReachableHost != "relay.example" {
		t.Errorf("reachable host %q, want the configured publicHost", b.ReachableHost)
	}
	cases := []struct {
		name string
		host string
		port uint16
		want wisp.CloseReason
	}{
		{"address not configured", "::1", 0, wisp.ReasonBlocked},
		{"not an address", "localhost", 0, wisp.ReasonInvalid},
		{"port taken", "127.0.0.1", l.Bound().Bound.Port(), wisp.ReasonAddrInUse},
		{"port below range", "127.0.0.1", 80, wisp.ReasonBlocked},
	}
	for _, c := range cases {
		_, err := s.Listen(ctxT(t), c.host, c.port, 0)
		if got := closeReason(err); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := s.Listen(ctxT(t), "", 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Listen(ctxT(t), "", 0, 0); closeReason(err) != wisp.ReasonThrottled {
		t.Errorf("third listener over maxListeners 2: %v, want throttled", err)
	}
}

func TestListenConfigValidation(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{
		`{"addresses":[],"ports":"2000"}`,
		`{"addresses":["localhost"],"ports":"2000"}`,
		`{"addresses":["fe80::1%eth0"],"ports":"2000"}`,
		`{"addresses":["127.0.0.1"],"ports":""}`,
		`{"addresses":["127.0.0.1"],"ports":"9-2"}`,
		`{"addresses":["127.0.0.1"],"ports":"2000","maxListeners":-1}`,
		`{"addresses":["127.0.0.1"],"ports":"2000","portz":"1"}`,
	} {
		_, err := relay.ParseConfig([]byte(`{"apps":[{"id":"a","allowNoOrigin":true,"listen":` + listen + `}]}`))
		if err == nil {
			t.Errorf("config accepted listen %s", listen)
		}
	}
}

// TestListenDenialsLoggedOnceAndCounted: every listen decision goes through
// the policy engine: a typed reason, one log line, one count in /metrics.
func TestListenDenialsLoggedOnceAndCounted(t *testing.T) {
	t.Parallel()
	cfg := mustParse(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["privateNetworkClientServer"],
		"listen":{"addresses":["127.0.0.1","10.0.0.1"],"ports":"20000-20100"}},
		{"id":"b","secret":"s","allowNoOrigin":true,"capabilities":["privateNetworkClientServer"]}]}`)
	var logs logBuf
	url, rs := testutil.Relay(t, &relay.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	s := dial(t, url, nil)
	b := dial(t, url, &wispclient.Options{AppID: "b", Secret: "s"})
	cases := []struct {
		s      *wispclient.Session
		host   string
		port   uint16
		reason string
	}{
		{s, "192.168.0.1", 0, "listen_address_not_allowed"},
		{s, "127.0.0.1", 80, "listen_port_not_allowed"},
		{s, "127.0.0.1", 20001, "loopback_not_exempt"},
		{b, "", 0, "listen_not_configured"},
	}
	for _, c := range cases {
		if _, err := c.s.Listen(ctxT(t), c.host, c.port, 0); closeReason(err) != wisp.ReasonBlocked {
			t.Errorf("listen %s:%d: %v, want blocked", c.host, c.port, err)
		}
		if got := metricLabel(t, rs, "sockshim_policy_decisions_total", "reason", c.reason); got != "1" {
			t.Errorf("decisions{reason=%q} = %s, want 1", c.reason, got)
		}
		if n := strings.Count(logs.String(), c.reason); n != 1 {
			t.Errorf("reason %s logged %d times, want once:\n%s", c.reason, n, logs.String())
		}
	}
}
