//go:build !js

package shim_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
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

// TestConnConformance runs x/net's net.Conn conformance suite on a
// StreamSocket, through a real relay and directly.
func TestConnConformance(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	for name, tr := range map[string]shim.Transport{
		"relay":  shim.RelayTransport(url, nil),
		"direct": shim.DirectTransport(nil),
	} {
		t.Run(name, func(t *testing.T) {
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) { return connectPipe(t, tr) })
		})
	}
}

func TestConnectErrors(t *testing.T) {
	t.Parallel()
	closed := strconv.Itoa(testutil.ClosedPort(t).Port)
	url, _ := testutil.Relay(t, nil)
	noLoop, err := relay.ParseConfig([]byte(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	deniedURL, _ := testutil.Relay(t, &relay.Options{Config: noLoop})
	cases := []struct {
		name       string
		tr         shim.Transport
		service    string
		wantStatus shim.SocketErrorStatus
		wantIs     error
	}{
		{"relay refused", shim.RelayTransport(url, nil), closed, shim.SocketErrorConnectionRefused, nil},
		{"direct refused", shim.DirectTransport(nil), closed, shim.SocketErrorConnectionRefused, nil},
		{"relay denied", shim.RelayTransport(deniedURL, nil), "7", shim.SocketErrorUnknown, shim.ErrAccessDenied},
		{"direct denied", shim.DirectTransport(&shim.DirectOptions{DenyLoopback: true}), "7", shim.SocketErrorUnknown, shim.ErrAccessDenied},
		{"no capabilities", shim.DirectTransport(&shim.DirectOptions{Capabilities: []string{}}), "7", shim.SocketErrorUnknown, shim.ErrAccessDenied},
		{"bad service", shim.DirectTransport(nil), "nosuchservice", shim.SocketErrorUnknown, shim.ErrInvalidArgument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := shim.NewStreamSocket(c.tr)
			err := s.Connect(ctxT(t), host(t, "127.0.0.1"), c.service)
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			if got := shim.GetStatus(err); got != c.wantStatus {
				t.Errorf("GetStatus(%v) = %v, want %v", err, got, c.wantStatus)
			}
			if c.wantIs != nil && !errors.Is(err, c.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, c.wantIs)
			}
			if c.wantIs != shim.ErrAccessDenied && errors.Is(err, shim.ErrAccessDenied) {
				t.Errorf("%v wrongly reads as access denied", err)
			}
		})
	}
}

func TestInformation(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	url, _ := testutil.Relay(t, nil)
	for name, tr := range map[string]shim.Transport{"relay": shim.RelayTransport(url, nil), "direct": shim.DirectTransport(nil)} {
		t.Run(name, func(t *testing.T) {
			s := shim.NewStreamSocket(tr)
			defer s.Close()
			if !s.Control().NoDelay() || s.Control().KeepAlive() {
				t.Errorf("defaults: NoDelay=%v KeepAlive=%v, want true false", s.Control().NoDelay(), s.Control().KeepAlive())
			}
			h := host(t, "localhost")
			if err := s.Connect(ctxT(t), h, strconv.Itoa(echo.Port)); err != nil {
				t.Fatal(err)
			}
			info := s.Information()
			if info.RemoteAddress == nil || info.RemoteAddress.CanonicalName() != "127.0.0.1" || info.RemotePort != strconv.Itoa(echo.Port) {
				t.Errorf("remote = %v:%s", info.RemoteAddress, info.RemotePort)
			}
			if info.LocalAddress == nil || info.LocalAddress.Type() != shim.HostNameIPv4 || info.LocalPort == "" {
				t.Errorf("local = %v:%s", info.LocalAddress, info.LocalPort)
			}
			if info.RemoteHostName != h || info.RemoteServiceName != strconv.Itoa(echo.Port) {
				t.Errorf("remote host name = %v %q", info.RemoteHostName, info.RemoteServiceName)
			}
			if err := s.Connect(ctxT(t), h, "7"); err == nil {
				t.Error("second Connect succeeded")
			}
		})
	}
}

func TestRelayRefusesUnhonourableControl(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	s := shim.NewStreamSocket(shim.RelayTransport(url, nil))
	s.Control().SetNoDelay(false)
	err := s.Connect(ctxT(t), host(t, "127.0.0.1"), "7")
	if !errors.Is(err, shim.ErrNotSupported) {
		t.Fatalf("err = %v, want ErrNotSupported", err)
	}
}

func TestReadAfterRemoteClose(t *testing.T) {
	t.Parallel()
	srv := testutil.Serve(t, func(c net.Conn) { c.Write([]byte("done")) })
	url, _ := testutil.Relay(t, nil)
	s := shim.NewStreamSocket(shim.RelayTransport(url, nil))
	if err := s.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(srv.Port)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(s)
	if err != nil || string(b) != "done" {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
	s.Close()
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
}

// connectPipe is a StreamSocket on tr connected to a loopback listener, and
// the listener's end.
func connectPipe(t *testing.T, tr shim.Transport) (net.Conn, net.Conn, func(), error) {
	return testutil.Pipe(func(port string) (net.Conn, error) {
		s := shim.NewStreamSocket(tr)
		return s, s.Connect(context.Background(), host(t, "127.0.0.1"), port)
	})
}
