//go:build !js

package shim_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// dialerTransports are a real in-process relay and the direct transport.
func dialerTransports(t *testing.T) map[string]shim.Transport {
	url, _ := testutil.Relay(t, nil)
	return map[string]shim.Transport{
		"relay":  shim.RelayTransport(url, nil),
		"direct": shim.DirectTransport(nil),
	}
}

// TestDialerConnConformance runs x/net's net.Conn suite on connections
// from Dialer.DialContext, through a relay and directly.
func TestDialerConnConformance(t *testing.T) {
	t.Parallel()
	for name, tr := range dialerTransports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := &shim.Dialer{Transport: tr, Timeout: 10 * time.Second}
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
				return testutil.Pipe(func(port string) (net.Conn, error) {
					return d.DialContext(context.Background(), "tcp", "127.0.0.1:"+port)
				})
			})
		})
	}
}

// TestDialerAddresses: the address forms net.Dial takes reach the server.
func TestDialerAddresses(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	port := strconv.Itoa(echo.Port)
	for name, tr := range dialerTransports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := &shim.Dialer{Transport: tr, Timeout: 10 * time.Second}
			for _, c := range []struct{ network, address string }{
				{"tcp", "127.0.0.1:" + port},
				{"tcp4", "127.0.0.1:" + port},
				{"tcp", "localhost:" + port},
				{"tcp", ":" + port},
				{"tcp4", ":" + port},
				{"tcp", "[::ffff:127.0.0.1]:" + port},
			} {
				conn, err := d.DialContext(context.Background(), c.network, c.address)
				if err != nil {
					t.Errorf("Dial(%q, %q): %v", c.network, c.address, err)
					continue
				}
				dialerEcho(t, conn, c.network+" "+c.address)
				if _, ok := conn.(*shim.StreamSocket); !ok {
					t.Errorf("Dial returned %T, want *shim.StreamSocket", conn)
				}
				conn.Close()
			}
		})
	}
}

func dialerEcho(t *testing.T, conn net.Conn, msg string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Errorf("%s: write: %v", msg, err)
		return
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != msg {
		t.Errorf("%s: echo %q, %v", msg, buf, err)
	}
}

// TestDialerServiceNames: "host:service" resolves names as net.Dial does:
// the well-known ones everywhere, the rest from the services database.
func TestDialerServiceNames(t *testing.T) {
	t.Parallel()
	d := &shim.Dialer{Transport: shim.DirectTransport(nil), Timeout: 10 * time.Second}
	// Nothing listens on 127.0.0.1:7 here: the refusal names the port the
	// service resolved to.
	_, err := d.Dial("tcp", "127.0.0.1:echo")
	if shim.GetStatus(err).String() != "ConnectionRefused" || !strings.Contains(err.Error(), "127.0.0.1:7") {
		t.Fatalf("Dial 127.0.0.1:echo = %v (status %v), want ConnectionRefused on port 7", err, shim.GetStatus(err))
	}
	// A name only the system's services database knows (when it has one).
	if p, lerr := net.LookupPort("tcp", "postgresql"); lerr == nil {
		conn, err := d.Dial("tcp", "127.0.0.1:postgresql")
		switch {
		case err == nil: // a PostgreSQL on its default port: resolved too
			conn.Close()
		case !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(p)):
			t.Errorf("Dial 127.0.0.1:postgresql = %v, want port %d", err, p)
		}
	}
}

// TestDialerErrors: the errors net.Dial's callers test for.
func TestDialerErrors(t *testing.T) {
	t.Parallel()
	closed := "127.0.0.1:" + strconv.Itoa(testutil.ClosedPort(t).Port)
	noLoop, err := relay.ParseConfig([]byte(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	deniedURL, _ := testutil.Relay(t, &relay.Options{Config: noLoop})
	echo := testutil.EchoServer(t).String()

	for name, tr := range dialerTransports(t) {
		d := &shim.Dialer{Transport: tr}
		_, err := d.Dial("tcp", closed)
		checkOpError(t, err, "dial", "tcp")
		if got := shim.GetStatus(err).String(); got != "ConnectionRefused" {
			t.Errorf("%s: closed port: %v (status %s)", name, err, got)
		}
		var ne net.Error
		if !errors.As(err, &ne) || ne.Timeout() {
			t.Errorf("%s: refusal: net.Error %v Timeout=%v", name, ne, ne != nil && ne.Timeout())
		}

		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		_, err = d.DialContext(ctx, "tcp", echo)
		cancel()
		checkOpError(t, err, "dial", "tcp")
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: expired context: %v, want a net.Error timeout wrapping context.DeadlineExceeded", name, err)
		}
	}

	for network, address := range map[string]string{"tcp": echo, "udp": testutil.UDPEchoServer(t).String()} {
		d := &shim.Dialer{Transport: shim.RelayTransport(deniedURL, nil), Timeout: 10 * time.Second}
		_, err = d.Dial(network, address)
		checkOpError(t, err, "dial", network)
		if !errors.Is(err, shim.ErrAccessDenied) {
			t.Errorf("%s to loopback without the exemption: %v, want ErrAccessDenied", network, err)
		}
		t.Logf("%s denied: %v", network, err)
	}
	d := &shim.Dialer{Transport: shim.DirectTransport(&shim.DirectOptions{DenyLoopback: true})}
	if _, err := d.Dial("tcp", echo); !errors.Is(err, shim.ErrAccessDenied) {
		t.Errorf("direct without the loopback exemption: %v, want ErrAccessDenied", err)
	}
}

// TestDialerContextEndsAfterDial: the context (and Timeout) bound the dial
// only; the connection outlives them, as with net.Dialer.
func TestDialerContextEndsAfterDial(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t).String()
	for name, tr := range dialerTransports(t) {
		ctx, cancel := context.WithCancel(context.Background())
		d := &shim.Dialer{Transport: tr, Timeout: 5 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", echo)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cancel()
		dialerEcho(t, conn, name+": still open after the context ended")
		conn.Close()
	}
}

// TestDialerTLS: ProtectionLevel runs TLS in the client, validated for the
// address's host, with roots set through Control.
func TestDialerTLS(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "dialer")
	srv := testutil.TLSServer(t, ca.ServerCert(t), nil, func(c *tls.Conn) { io.Copy(c, c) })
	port := strconv.Itoa(srv.Port)
	for name, tr := range dialerTransports(t) {
		d := &shim.Dialer{
			Transport:       tr,
			ProtectionLevel: shim.ProtectionLevelSsl,
			Timeout:         10 * time.Second,
			Control: func(_, _ string, c *shim.StreamSocketControl) error {
				c.SetTrustedRoots(ca.Pool)
				return nil
			},
		}
		conn, err := d.Dial("tcp", "localhost:"+port)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := conn.(*shim.StreamSocket).Information().ProtectionLevel; got != shim.ProtectionLevelSsl {
			t.Errorf("%s: ProtectionLevel %v", name, got)
		}
		dialerEcho(t, conn, name+" over TLS")
		conn.Close()

		// Without the test CA the system roots refuse the certificate.
		d.Control = nil
		_, err = d.Dial("tcp", "127.0.0.1:"+port)
		checkOpError(t, err, "dial", "tcp")
		if got := shim.GetStatus(err).String(); got != "CertificateUntrustedRoot" {
			t.Errorf("%s: untrusted: %v (status %s)", name, err, got)
		}
	}
}

// TestDialerUDP: a UDP dial is a connected DatagramSocket as a net.Conn.
func TestDialerUDP(t *testing.T) {
	t.Parallel()
	echo := testutil.UDPEchoServer(t)
	for name, tr := range dialerTransports(t) {
		d := &shim.Dialer{Transport: tr, Timeout: 10 * time.Second}
		for _, network := range []string{"udp", "udp4"} {
			conn, err := d.Dial(network, echo.String())
			if err != nil {
				t.Fatalf("%s %s: %v", name, network, err)
			}
			if _, ok := conn.(*shim.DatagramSocket); !ok {
				t.Errorf("%s: Dial(udp) returned %T", name, conn)
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			for i := range 3 {
				msg := fmt.Sprintf("%s datagram %d", name, i)
				if _, err := conn.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 100)
				n, err := conn.Read(buf)
				if err != nil || string(buf[:n]) != msg {
					t.Fatalf("%s: read %q %v, want %q", name, buf[:n], err, msg)
				}
			}
			if ra, ok := conn.RemoteAddr().(*net.UDPAddr); name == "direct" && (!ok || ra.Port != echo.Port) {
				t.Errorf("%s: RemoteAddr %v", name, conn.RemoteAddr())
			}
			conn.Close()
		}
	}
}

// TestListen: shim.Listen and ListenConfig.Listen return listeners a
// plain Go client reaches; ListenPacket a PacketConn.
func TestListen(t *testing.T) {
	t.Parallel()
	for name, tr := range dialerTransports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lc := &shim.ListenConfig{Transport: tr}
			for _, c := range []struct{ network, address string }{
				{"tcp", "127.0.0.1:0"},
				{"tcp4", "localhost:0"},
				{"tcp", "127.0.0.1:"},
			} {
				l, err := lc.Listen(context.Background(), c.network, c.address)
				if err != nil {
					t.Fatalf("Listen(%q, %q): %v", c.network, c.address, err)
				}
				if _, ok := l.(*shim.StreamSocketListener); !ok {
					t.Errorf("Listen returned %T", l)
				}
				go func() {
					c, err := net.Dial("tcp", l.Addr().String())
					if err == nil {
						fmt.Fprintf(c, "hello %s\n", name)
						io.Copy(io.Discard, c)
						c.Close()
					}
				}()
				s, err := l.Accept()
				if err != nil {
					t.Fatal(err)
				}
				s.SetDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(s).ReadString('\n')
				if err != nil || line != "hello "+name+"\n" {
					t.Errorf("accepted %q %v", line, err)
				}
				s.Close()
				l.Close()
			}

			pc, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			echo := testutil.UDPEchoServer(t)
			pc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := pc.WriteTo([]byte("ping "+name), echo); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			n, from, err := pc.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "ping "+name || from.(*net.UDPAddr).Port != echo.Port {
				t.Fatalf("ReadFrom %q from %v: %v", buf[:n], from, err)
			}
		})
	}
	// The package-level functions use DefaultTransport (direct, natively).
	l, err := shim.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	pc, err := shim.ListenPacket(context.Background(), "udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	pc.Close()
}

// TestDialerHTTPTransport: net/http's Transport dials through the relay
// with DialContext: the one-line plug-in documented in the README.
func TestDialerHTTPTransport(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	url, _ := testutil.Relay(t, nil)
	var dials atomic.Int32
	d := &shim.Dialer{Transport: shim.RelayTransport(url, nil), Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	for i := range 3 {
		resp, err := client.Get(srv.URL + "/" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "hello /"+strconv.Itoa(i) {
			t.Fatalf("body %q", body)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials for 3 requests, want 1 (keep-alive over the tunnel)", n)
	}
}

// TestDialerFailuresRelease: failed dials (refused, denied, TLS refused,
// Control error) leave no descriptor and no goroutine behind, through a
// relay and directly. Not parallel: it counts the whole process.
func TestDialerFailuresRelease(t *testing.T) {
	ca := testutil.NewCA(t, "release")
	tlsSrv := testutil.TLSServer(t, ca.ServerCert(t), nil, func(c *tls.Conn) {})
	closed := testutil.ClosedPort(t).String()
	noLoop, err := relay.ParseConfig([]byte(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	deniedURL, _ := testutil.Relay(t, &relay.Options{Config: noLoop})
	trs := dialerTransports(t)
	trs["denying relay"] = shim.RelayTransport(deniedURL, nil)
	refuse := errors.New("no")
	// Warm up: each transport's session and the servers' goroutines exist
	// before counting.
	for _, tr := range trs {
		(&shim.Dialer{Transport: tr}).Dial("tcp", closed)
	}
	fds, goroutines := countFDs(t), runtime.NumGoroutine()
	for name, tr := range trs {
		dials := []struct {
			d       *shim.Dialer
			network string
			addr    string
		}{
			{&shim.Dialer{Transport: tr}, "tcp", closed},
			{&shim.Dialer{Transport: tr}, "udp", "127.0.0.1:1"},
			{&shim.Dialer{Transport: tr, ProtectionLevel: shim.ProtectionLevelSsl}, "tcp", tlsSrv.String()},
			{&shim.Dialer{Transport: tr, Control: func(string, string, *shim.StreamSocketControl) error { return refuse }}, "tcp", tlsSrv.String()},
		}
		for i := 0; i < 50; i++ {
			for _, c := range dials {
				conn, err := c.d.DialContext(ctxT(t), c.network, c.addr)
				if err == nil {
					if c.network == "udp" && name != "denying relay" {
						conn.Close() // a connected UDP socket needs no answer to open
						continue
					}
					conn.Close()
					t.Fatalf("%s: %s %s succeeded", name, c.network, c.addr)
				}
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		f, g := countFDs(t), runtime.NumGoroutine()
		if f <= fds+4 && g <= goroutines+4 {
			t.Logf("after 600 failed dials: %d descriptors (before: %d), %d goroutines (before: %d)", f, fds, g, goroutines)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("after 600 failed dials: %d descriptors (before: %d), %d goroutines (before: %d)\n%s",
				f, fds, g, goroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}
