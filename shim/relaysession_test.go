//go:build !js

package shim_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

func echoSocket(t *testing.T, tr shim.Transport, echo *net.TCPAddr) *shim.StreamSocket {
	t.Helper()
	s := shim.NewStreamSocket(tr)
	if err := s.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(echo.Port)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRelaySessionLostStatus: sockets of a session whose connection was
// reset fail with ConnectionResetByPeer, those of a relay that went silent
// with ConnectionTimedOut, and errors.Is still sees the cause.
func TestRelaySessionLostStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		kill   func(*testutil.Proxy, *relay.Server)
		status shim.SocketErrorStatus
		is     error
	}{
		{"reset", func(p *testutil.Proxy, _ *relay.Server) { p.Reset() }, shim.SocketErrorConnectionResetByPeer, syscall.ECONNRESET},
		{"blackhole", func(p *testutil.Proxy, _ *relay.Server) { p.Blackhole() }, shim.SocketErrorConnectionTimedOut, wispclient.ErrPeerTimeout},
		{"relay shutdown", func(_ *testutil.Proxy, srv *relay.Server) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}, shim.SocketErrorSoftwareCausedConnectionAbort, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wispURL, srv := testutil.Relay(t, noResume) // the session must end, not resume
			p, url := testutil.NewProxy(t, wispURL)
			s := echoSocket(t, shim.RelayTransport(url, &shim.RelayOptions{PeerTimeout: 2 * time.Second}), testutil.EchoServer(t))
			tc.kill(p, srv)
			s.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err := s.Read(make([]byte, 1))
			if got := shim.GetStatus(err); got != tc.status || tc.is != nil && (!errors.Is(err, tc.is) || !errors.Is(err, wispclient.ErrSessionLost)) {
				t.Fatalf("Read on a lost session: %v, status %v; want %v, errors.Is %v", err, got, tc.status, tc.is)
			}
			var ne net.Error
			if tc.status == shim.SocketErrorConnectionTimedOut && (!errors.As(err, &ne) || !ne.Timeout()) {
				t.Errorf("%v is not a net.Error timeout", err)
			}
		})
	}
}

// TestRelayTransportSkipsDyingSession: a Connect made while the
// transport's session is dying (its network went silent; the session has
// not noticed yet) gets a new session, not the dying one's error.
func TestRelayTransportSkipsDyingSession(t *testing.T) {
	t.Parallel()
	// Without resume: a resumable session would not die, and after the
	// proxy closes it would retry for the resume window past the test.
	wispURL, _ := testutil.Relay(t, noResume)
	p, url := testutil.NewProxy(t, wispURL)
	echo := testutil.EchoServer(t)
	tr := shim.RelayTransport(url, &shim.RelayOptions{PeerTimeout: 2 * time.Second})
	echoSocket(t, tr, echo)
	p.Blackhole() // the session's connection; new connections still pass
	start := time.Now()
	echoSocket(t, tr, echo)
	t.Logf("Connect on a new session after %v", time.Since(start))
}

// noResume: a relay that does not offer session resume, for tests of how a
// session's sockets fail when its WebSocket is lost (with resume they go on).
var noResume = &relay.Options{Resume: &relay.ResumeOptions{Disabled: true}}
