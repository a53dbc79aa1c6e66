//go:build !js

package wispclient_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/internal/wispclient"
)

// proxy is a TCP proxy between the client and a real relay that can turn
// into a blackhole (bytes are read and dropped both ways, no FIN: a dead
// network) or reset both connections (a relay killed, a NAT gone).
type proxy struct {
	ln      net.Listener
	target  string
	drop    atomic.Bool
	mu      sync.Mutex
	conns   []*net.TCPConn
	wg      sync.WaitGroup
	stopped bool
}

func newProxy(t *testing.T, wispURL string) (*proxy, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostport := strings.TrimSuffix(strings.TrimPrefix(wispURL, "ws://"), "/wisp/")
	p := &proxy{ln: ln, target: hostport}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p, "ws://" + ln.Addr().String() + "/wisp/"
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns = append(p.conns, c.(*net.TCPConn), up.(*net.TCPConn))
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pump(c, up)
		go p.pump(up, c)
	}
}

func (p *proxy) pump(from, to net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !p.drop.Load() {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := to.(*net.TCPConn); ok && !p.drop.Load() {
				tc.CloseWrite()
			}
			return
		}
	}
}

// reset closes every connection with RST.
func (p *proxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.SetLinger(0)
		c.Close()
	}
}

func (p *proxy) close() {
	p.mu.Lock()
	p.stopped = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

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
	wispURL, _ := testutil.Relay(t, nil)
	p, url := newProxy(t, wispURL)
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
	p.drop.Store(true)
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
		end  func(*proxy, *wispclient.Session, func())
		want error
		// streamSees: the stream's error has the session's cause (a
		// relay shutting down closes each stream itself first).
		streamSees bool
	}{
		{"reset", func(p *proxy, _ *wispclient.Session, _ func()) { p.reset() }, syscall.ECONNRESET, true},
		{"relay shutdown", func(_ *proxy, _ *wispclient.Session, shutdown func()) { shutdown() }, syscall.ECONNABORTED, false},
		{"local close", func(_ *proxy, s *wispclient.Session, _ func()) { s.Close() }, net.ErrClosed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wispURL, srv := testutil.Relay(t, nil)
			p, url := newProxy(t, wispURL)
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
