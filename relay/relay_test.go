//go:build !js

package relay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/relay"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, url string, o *wispclient.Options) *wispclient.Session {
	t.Helper()
	s, err := wispclient.Dial(ctxT(t), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestEchoManyStreams(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	url, _ := testutil.Relay(t, nil)
	s := dial(t, url, nil)
	if !s.V2() {
		t.Fatal("session did not negotiate Wisp v2")
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port())
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			// Large enough to need several CONTINUE grants.
			want := bytes.Repeat([]byte{byte(i)}, 3<<20)
			go st.Write(want)
			got := make([]byte, len(want))
			if _, err := io.ReadFull(st, got); err != nil {
				t.Errorf("stream %d: %v", i, err)
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("stream %d: echoed bytes differ", i)
			}
			if ra := st.RemoteAddr().String(); ra != echo.String() {
				t.Errorf("RemoteAddr = %q, want %q", ra, echo)
			}
		}()
	}
	wg.Wait()
}

func TestRemoteCloseIsEOFAfterData(t *testing.T) {
	t.Parallel()
	srv := testutil.Serve(t, func(c net.Conn) { c.Write([]byte("bye")) })
	url, _ := testutil.Relay(t, nil)
	st, err := dial(t, url, nil).Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", srv.AddrPort().Port())
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(st)
	if err != nil || string(b) != "bye" {
		t.Fatalf("ReadAll = %q, %v; want \"bye\", nil", b, err)
	}
}

// TestClientCloseFlushes: data written just before Close still reaches the
// destination.
func TestClientCloseFlushes(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 1)
	srv := testutil.Serve(t, func(c net.Conn) { b, _ := io.ReadAll(c); got <- b })
	url, _ := testutil.Relay(t, nil)
	st, err := dial(t, url, nil).Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", srv.AddrPort().Port())
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("x"), 1<<20)
	if _, err := st.Write(want); err != nil {
		t.Fatal(err)
	}
	st.Close()
	select {
	case b := <-got:
		if !bytes.Equal(b, want) {
			t.Fatalf("destination got %d bytes, want %d", len(b), len(want))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("destination never saw the close")
	}
}

type nxResolver struct{}

func (nxResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

type blockingDialer struct{ release chan struct{} }

func (d blockingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.release:
		var nd net.Dialer
		return nd.DialContext(ctx, network, addr)
	}
}

func closeReason(err error) wisp.CloseReason {
	var ce *wisp.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return 0
}

func TestCloseReasons(t *testing.T) {
	t.Parallel()
	closed := testutil.ClosedPort(t)
	noLoopback := mustParse(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"]}]}`)
	cases := []struct {
		name string
		opts *relay.Options
		host string
		port uint16
		v1   bool
		want wisp.CloseReason
	}{
		{"refused", nil, "127.0.0.1", closed.AddrPort().Port(), false, wisp.ReasonRefused},
		{"loopback not exempt", &relay.Options{Config: noLoopback}, "127.0.0.1", 7, false, wisp.ReasonBlocked},
		{"no app", &relay.Options{Config: &relay.Config{}}, "127.0.0.1", 7, false, wisp.ReasonBlocked},
		{"port zero", nil, "127.0.0.1", 0, false, wisp.ReasonInvalid},
		{"numeric trick", nil, "0x7f.1", 80, false, wisp.ReasonInvalid},
		{"nxdomain", &relay.Options{Resolver: nxResolver{}}, "nope.invalid", 80, false, wisp.ReasonHostNotFound},
		{"nxdomain plain wisp", &relay.Options{Resolver: nxResolver{}}, "nope.invalid", 80, true, wisp.ReasonUnreachable},
		{"timeout", &relay.Options{Dialer: blockingDialer{}, DialTimeout: 50 * time.Millisecond}, "127.0.0.1", 9, false, wisp.ReasonTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url, _ := testutil.Relay(t, c.opts)
			s := dial(t, url, &wispclient.Options{V1: c.v1})
			st, err := s.Open(ctxT(t), wisp.StreamTCP, c.host, c.port)
			if err == nil {
				_, err = st.Read(make([]byte, 1)) // plain Wisp: failure shows on read
			}
			if got := closeReason(err); got != c.want {
				t.Fatalf("err = %v (reason %v), want reason %v", err, got, c.want)
			}
		})
	}
}

func mustParse(s string) *relay.Config {
	c, err := relay.ParseConfig([]byte(s))
	if err != nil {
		panic(err)
	}
	return c
}

// rawSession speaks Wisp by hand, to test what a well-behaved client never
// sends.
type rawSession struct {
	t    *testing.T
	c    *websocket.Conn
	ctx  context.Context
	cred uint32
}

// rawDialNoInfo opens a v2 WebSocket and reads the relay's INFO.
func rawDialNoInfo(t *testing.T, url string) *rawSession {
	t.Helper()
	ctx := ctxT(t)
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"wisp-v2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	r := &rawSession{t: t, c: c, ctx: ctx}
	if p := r.read(); p.Type != wisp.TypeInfo {
		t.Fatalf("first packet %v, want INFO", p.Type)
	}
	return r
}

func rawDial(t *testing.T, url string, v2 bool) *rawSession {
	t.Helper()
	ctx := ctxT(t)
	o := &websocket.DialOptions{}
	if v2 {
		o.Subprotocols = []string{"wisp-v2"}
	}
	c, _, err := websocket.Dial(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	r := &rawSession{t: t, c: c, ctx: ctx}
	if v2 {
		if p := r.read(); p.Type != wisp.TypeInfo {
			t.Fatalf("first packet %v, want INFO", p.Type)
		}
		r.send(wisp.Append(nil, &wisp.Packet{Type: wisp.TypeInfo, Info: wisp.Info{Major: 2}}))
	}
	p := r.read()
	if p.Type != wisp.TypeContinue || p.StreamID != 0 {
		t.Fatalf("got %v on %d, want CONTINUE on 0", p.Type, p.StreamID)
	}
	r.cred = p.Credit
	return r
}

func (r *rawSession) send(b []byte) {
	r.t.Helper()
	if err := r.c.Write(r.ctx, websocket.MessageBinary, b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawSession) read() wisp.Packet {
	r.t.Helper()
	_, b, err := r.c.Read(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := wisp.Parse(b)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

func (r *rawSession) connect(id uint32, port uint16) {
	r.send(wisp.Append(nil, &wisp.Packet{Type: wisp.TypeConnect, StreamID: id, StreamType: wisp.StreamTCP, Port: port, Host: "127.0.0.1"}))
}

// TestCreditExact: a client may send exactly its credit before any grant
// (here while the dial is still pending), and all of it arrives; one packet
// more closes the stream with ReasonThrottled instead of being dropped.
func TestCreditExact(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 2)
	srv := testutil.Serve(t, func(c net.Conn) { b, _ := io.ReadAll(c); got <- b })
	for _, over := range []bool{false, true} {
		t.Run(fmt.Sprint("over=", over), func(t *testing.T) {
			release := make(chan struct{})
			url, _ := testutil.Relay(t, &relay.Options{StreamCredit: 4, Dialer: blockingDialer{release}})
			r := rawDial(t, url, false)
			if r.cred != 4 {
				t.Fatalf("initial credit %d, want 4", r.cred)
			}
			r.connect(1, srv.AddrPort().Port())
			n := int(r.cred)
			if over {
				n++
			}
			for i := range n {
				r.send(wisp.AppendData(nil, 1, []byte{byte('a' + i)}))
			}
			if over {
				p := r.read()
				if p.Type != wisp.TypeClose || p.Reason != wisp.ReasonThrottled {
					t.Fatalf("got %v %v, want CLOSE throttled", p.Type, p.Reason)
				}
				close(release)
				return
			}
			close(release)
			r.send(wisp.AppendClose(nil, 1, wisp.ReasonVoluntary))
			select {
			case b := <-got:
				if string(b) != "abcd" {
					t.Fatalf("destination got %q, want \"abcd\"", b)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("destination got nothing")
			}
		})
	}
}

func TestMalformedInputClosesOnlyItsStream(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	url, _ := testutil.Relay(t, nil)
	r := rawDial(t, url, true)
	// A CONNECT without a host: that stream is refused, the session lives.
	r.send([]byte{byte(wisp.TypeConnect), 5, 0, 0, 0, 1, 80, 0})
	if p := r.read(); p.Type != wisp.TypeClose || p.StreamID != 5 || p.Reason != wisp.ReasonInvalid {
		t.Fatalf("got %+v, want CLOSE 5 invalid", p)
	}
	// UDP is not offered by this relay.
	r.send(wisp.Append(nil, &wisp.Packet{Type: wisp.TypeConnect, StreamID: 6, StreamType: 9, Port: 80, Host: "127.0.0.1"}))
	if p := r.read(); p.Type != wisp.TypeClose || p.StreamID != 6 {
		t.Fatalf("got %+v, want CLOSE 6", p)
	}
	r.connect(7, echo.AddrPort().Port())
	r.send(wisp.AppendData(nil, 7, []byte("ping")))
	for {
		p := r.read()
		if p.Type == wisp.TypeData {
			if string(p.Data) != "ping" {
				t.Fatalf("echo %q", p.Data)
			}
			break
		}
	}
	// A packet shorter than the header ends the session with 1002.
	r.send([]byte{1, 2})
	_, _, err := r.c.Read(r.ctx)
	if websocket.CloseStatus(err) != websocket.StatusProtocolError {
		t.Fatalf("short packet: %v, want close 1002", err)
	}
}

func TestOversizedMessage(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, &relay.Options{MaxMessage: 1024})
	r := rawDial(t, url, true)
	r.send(wisp.AppendData(nil, 1, make([]byte, 2048)))
	_, _, err := r.c.Read(r.ctx)
	if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized: %v, want close 1009", err)
	}
}

func TestWispV1(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	url, _ := testutil.Relay(t, nil)
	r := rawDial(t, url, false) // CONTINUE(0) comes first in v1
	r.connect(1, echo.AddrPort().Port())
	r.send(wisp.AppendData(nil, 1, []byte("v1")))
	if p := r.read(); p.Type != wisp.TypeData || string(p.Data) != "v1" {
		t.Fatalf("got %+v", p)
	}
}

func TestAppCredentials(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	cfg := mustParse(`{"apps":[{"id":"app1","secret":"s3cret","allowNoOrigin":true,"origins":["https://app.example"],
		"capabilities":["internetClient"],"loopbackExempt":true}]}`)
	url, _ := testutil.Relay(t, &relay.Options{Config: cfg})
	cases := []struct {
		name      string
		o         wispclient.Options
		wantClose wisp.CloseReason
	}{
		{"right", wispclient.Options{AppID: "app1", Secret: "s3cret"}, 0},
		{"wrong secret", wispclient.Options{AppID: "app1", Secret: "nope"}, wisp.ReasonAuthBad},
		{"unknown app", wispclient.Options{AppID: "app2", Secret: "s3cret"}, wisp.ReasonAuthBad},
		{"missing", wispclient.Options{}, wisp.ReasonAuthRequired},
		{"wrong origin", wispclient.Options{AppID: "app1", Secret: "s3cret", Header: http.Header{"Origin": {"https://evil.example"}}}, httpForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := wispclient.Dial(ctxT(t), url, &c.o)
			var he *wispclient.HandshakeError
			switch {
			case c.wantClose == httpForbidden:
				if err == nil || !strings.Contains(err.Error(), "403") {
					t.Fatalf("err = %v, want HTTP 403", err)
				}
			case c.wantClose != 0:
				if !errors.As(err, &he) || he.Reason != c.wantClose {
					t.Fatalf("err = %v, want refusal %v", err, c.wantClose)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				st, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port())
				if err != nil {
					t.Fatal(err)
				}
				st.Close()
			}
		})
	}
}

func TestOrigins(t *testing.T) {
	t.Parallel()
	cfg := mustParse(`{"apps":[{"id":"web","origins":["https://app.example","http://localhost:*","https://*.good.example"],"capabilities":["internetClient"]}]}`)
	url, _ := testutil.Relay(t, &relay.Options{Config: cfg})
	for origin, ok := range map[string]bool{
		"https://app.example":       true,
		"http://localhost:5173":     true,
		"https://a.good.example":    true,
		"http://app.example":        false, // scheme matters
		"https://app.example.evil":  false,
		"null":                      false,
		"https://good.example":      false,
		"http://localhost":          false,
		"https://evil.example":      false,
		"https://xgood.example":     false,
		"https://a.good.example:99": false,
	} {
		s, err := wispclient.Dial(ctxT(t), url, &wispclient.Options{Header: http.Header{"Origin": {origin}}})
		if (err == nil) != ok {
			t.Errorf("origin %q: err = %v, want allowed=%v", origin, err, ok)
		}
		if s != nil {
			s.Close()
		}
	}
}

func TestShutdownClosesStreams(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	url, srv := testutil.Relay(t, nil)
	st, err := dial(t, url, nil).Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", echo.AddrPort().Port())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after shutdown succeeded")
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	resp, err := http.Get("http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), "/wisp/") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, b)
	}
}

// httpForbidden marks a case refused before the upgrade, not by CLOSE.
const httpForbidden wisp.CloseReason = 0xff

// TestSlowDestinationLosesNothing: while a destination does not read, the
// socket stops taking client data, what it refuses is queued (and the
// client is held back by credit), and once it reads again every byte
// arrives in order, queued or written straight through.
func TestSlowDestinationLosesNothing(t *testing.T) {
	t.Parallel()
	const total = 24 << 20
	pattern := func(i int) byte { return byte(i*7 + i>>13) }
	release := make(chan struct{})
	result := make(chan error, 1)
	dst := testutil.Serve(t, func(c net.Conn) {
		c.(*net.TCPConn).SetReadBuffer(16 << 10)
		<-release
		b := make([]byte, 256<<10)
		n := 0
		for n < total {
			m, err := c.Read(b)
			for i := range m {
				if b[i] != pattern(n+i) {
					result <- fmt.Errorf("byte %d is %d, want %d", n+i, b[i], pattern(n+i))
					return
				}
			}
			n += m
			if err != nil {
				result <- fmt.Errorf("after %d bytes: %v", n, err)
				return
			}
		}
		result <- nil
	})
	url, rs := testutil.Relay(t, nil)
	s := dial(t, url, nil)
	st, err := s.Open(ctxT(t), wisp.StreamTCP, "127.0.0.1", dst.AddrPort().Port())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	go func() {
		buf := make([]byte, 100_000) // not a multiple of any packet size
		for n := 0; n < total; {
			m := min(len(buf), total-n)
			for i := range m {
				buf[i] = pattern(n + i)
			}
			if _, err := st.Write(buf[:m]); err != nil {
				t.Error(err)
				return
			}
			n += m
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for rs.Stats().BufferedBytes == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the relay never queued client data for the stalled destination")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute): // 24 MiB under -race on a loaded machine
		t.Fatal("the destination did not get everything")
	}
}
