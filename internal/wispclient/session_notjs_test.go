//go:build !js

package wispclient_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/relay"
)

func waitDone(t *testing.T, s *wispclient.Session, within time.Duration) (error, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case <-s.Done():
		return s.Err(), time.Since(start)
	case <-time.After(within):
		t.Fatalf("the session did not end within %v", within)
		return nil, 0
	}
}

func openEcho(t *testing.T, s *wispclient.Session) *wispclient.Stream {
	t.Helper()
	echo := testutil.EchoServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.Open(ctx, wisp.StreamTCP, "127.0.0.1", uint16(echo.Port))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(st, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	return st
}

func dialVia(t *testing.T, url string, o *wispclient.Options) *wispclient.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := wispclient.Dial(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPeerTimeoutDeadRelay: an idle session to a live relay stays up past
// PeerTimeout (PING/PONG, ExtLiveness), and one whose network turned into
// a blackhole ends within PeerTimeout with an error naming the cause.
func TestPeerTimeoutDeadRelay(t *testing.T) {
	t.Parallel()
	wispURL, _ := testutil.Relay(t, noResume) // the session must end, not resume
	p, url := testutil.NewProxy(t, wispURL)
	const timeout = 2 * time.Second
	s := dialVia(t, url, &wispclient.Options{PeerTimeout: timeout})
	if !s.Extension(wisp.ExtLiveness) {
		t.Fatal("the relay does not advertise ExtLiveness")
	}
	st := openEcho(t, s)
	select {
	case <-s.Done():
		t.Fatalf("an idle session to a live relay ended: %v", s.Err())
	case <-time.After(3 * timeout):
	}
	p.Blackhole()
	err, took := waitDone(t, s, 10*timeout)
	// Detection takes PeerTimeout after the last packet; allow for load.
	if took > timeout+2*time.Second {
		t.Errorf("dead relay noticed after %v, PeerTimeout %v", took, timeout)
	}
	var ne net.Error
	if !errors.Is(err, wispclient.ErrPeerTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("session error %v: want ErrPeerTimeout, a net.Error timeout", err)
	}
	_, rerr := st.Read(make([]byte, 1))
	if !errors.Is(rerr, wispclient.ErrSessionLost) || !errors.Is(rerr, wispclient.ErrPeerTimeout) {
		t.Errorf("stream Read after the relay died: %v, want ErrSessionLost wrapping ErrPeerTimeout", rerr)
	}
}

// TestSessionLostCauses: why a session ended stays in the errors of its
// streams, mapped where it enters: a reset connection is ECONNRESET, a
// relay that closed the session is ECONNABORTED, a local Close is
// net.ErrClosed; all wrap ErrSessionLost.
func TestSessionLostCauses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(*testutil.Proxy, *wispclient.Session, func())
		want error
		// streamSees: the stream's error has the session's cause (a
		// relay shutting down closes each stream itself first).
		streamSees bool
	}{
		{"reset", func(p *testutil.Proxy, _ *wispclient.Session, _ func()) { p.Reset() }, syscall.ECONNRESET, true},
		{"relay shutdown", func(_ *testutil.Proxy, _ *wispclient.Session, shutdown func()) { shutdown() }, syscall.ECONNABORTED, false},
		{"local close", func(_ *testutil.Proxy, s *wispclient.Session, _ func()) { s.Close() }, net.ErrClosed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wispURL, srv := testutil.Relay(t, noResume) // the session must end, not resume
			p, url := testutil.NewProxy(t, wispURL)
			s := dialVia(t, url, nil)
			st := openEcho(t, s)
			tc.end(p, s, func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				srv.Shutdown(ctx)
			})
			err, _ := waitDone(t, s, 10*time.Second)
			if !errors.Is(err, tc.want) {
				t.Errorf("session error %v, want %v in its chain", err, tc.want)
			}
			_, rerr := st.Read(make([]byte, 1))
			if tc.streamSees && (!errors.Is(rerr, wispclient.ErrSessionLost) || !errors.Is(rerr, tc.want)) {
				t.Errorf("stream Read: %v, want ErrSessionLost and %v", rerr, tc.want)
			}
			if _, err := s.Open(context.Background(), wisp.StreamTCP, "127.0.0.1", 1); !errors.Is(err, wispclient.ErrSessionLost) || !errors.Is(err, tc.want) {
				t.Errorf("Open on the lost session: %v, want ErrSessionLost and %v", err, tc.want)
			}
		})
	}
}

// TestListenerCloseFreesPort: once Close returns, the relay's listening
// socket is closed: a dial to the port is refused, every time.
func TestListenerCloseFreesPort(t *testing.T) {
	t.Parallel()
	wispURL, _ := testutil.Relay(t, nil)
	s := dialVia(t, wispURL, nil)
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l, err := s.Listen(ctx, "127.0.0.1", 0, 0)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), l.Bound().Bound.Port())
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
		if err == nil {
			c.Close()
			t.Fatalf("try %d: a dial to %v right after Close connected", i, addr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("try %d: dial after Close: %v, want connection refused", i, err)
		}
	}
}

// TestCloseWriteIgnoresWriteDeadline: the FIN goes out even when the write
// deadline has passed, as with a TCPConn (crypto/tls sets it to now after
// its close_notify).
func TestCloseWriteIgnoresWriteDeadline(t *testing.T) {
	t.Parallel()
	wispURL, _ := testutil.Relay(t, nil)
	s := dialVia(t, wispURL, nil)
	got := make(chan string, 100)
	srv := testutil.Serve(t, func(c net.Conn) {
		b, _ := io.ReadAll(c) // returns at the FIN
		got <- string(b)
	})
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := s.Open(ctx, wisp.StreamTCP, "127.0.0.1", uint16(srv.Port))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write([]byte("last words")); err != nil {
			t.Fatal(err)
		}
		st.SetWriteDeadline(time.Now())
		if err := st.CloseWrite(); err != nil {
			t.Fatalf("try %d: CloseWrite after the write deadline: %v", i, err)
		}
		select {
		case b := <-got:
			if b != "last words" {
				t.Fatalf("try %d: server read %q", i, b)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("try %d: the server never saw the FIN", i)
		}
		st.Close()
	}
}

// noResume: a relay that does not offer session resume, for tests of how a
// session ends when its WebSocket is lost (with resume it goes on).
var noResume = &relay.Options{Resume: &relay.ResumeOptions{Disabled: true}}
