//go:build !js

package shim_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/nettest"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// acceptedPipe binds a listener on tr, connects a plain Go TCP client to it
// and returns the accepted StreamSocket and the client's end.
func acceptedPipe(t *testing.T, tr shim.Transport) (net.Conn, net.Conn, func(), error) {
	l := shim.NewStreamSocketListener(tr)
	if err := l.BindEndpoint(context.Background(), host(t, "127.0.0.1"), ""); err != nil {
		return nil, nil, nil, err
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := l.Accept()
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	return s, c, func() { s.Close(); c.Close() }, nil
}

// TestListenerConformance runs x/net's net.Conn suite over accepted
// connections, through a real relay and directly.
func TestListenerConformance(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	for name, tr := range map[string]shim.Transport{
		"relay":  shim.RelayTransport(url, nil),
		"direct": shim.DirectTransport(nil),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) { return acceptedPipe(t, tr) })
		})
	}
}

func TestListenerInformationAndEvent(t *testing.T) {
	t.Parallel()
	url, _ := testutil.Relay(t, nil)
	for name, tr := range map[string]shim.Transport{
		"relay":  shim.RelayTransport(url, nil),
		"direct": shim.DirectTransport(nil),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := make(chan *shim.StreamSocket, 1)
			l := &shim.StreamSocketListener{
				Transport:          tr,
				ConnectionReceived: func(_ *shim.StreamSocketListener, s *shim.StreamSocket) { got <- s },
			}
			// Directly, BindServiceName would listen on every interface:
			// tests stay on loopback.
			bind := func() error { return l.BindServiceName(ctxT(t), "") }
			if name == "direct" {
				bind = func() error { return l.BindEndpoint(ctxT(t), host(t, "127.0.0.1"), "") }
			}
			if err := bind(); err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			info := l.Information()
			if info.LocalPort == "" || info.LocalPort == "0" || info.ReachablePort != info.LocalPort {
				t.Fatalf("information %+v", info)
			}
			if _, err := l.Accept(); !errors.Is(err, shim.ErrInvalidArgument) {
				t.Errorf("Accept with ConnectionReceived set: %v, want ErrInvalidArgument", err)
			}
			c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", info.LocalPort))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := <-got
			defer s.Close()
			if ri := s.Information(); ri.RemotePort != strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port) {
				t.Errorf("accepted socket's remote port %s, client's local %s", ri.RemotePort, c.LocalAddr())
			}
			s.Write([]byte("hi"))
			b := make([]byte, 2)
			if _, err := io.ReadFull(c, b); err != nil || string(b) != "hi" {
				t.Fatalf("read %q, %v", b, err)
			}
		})
	}
}

func TestListenerDenials(t *testing.T) {
	t.Parallel()
	cfg := func(caps string, listen string) shim.Transport {
		c, err := relay.ParseConfig([]byte(`{"apps":[{"id":"a","allowNoOrigin":true,"loopbackExempt":true,"capabilities":[` + caps + `]` + listen + `}]}`))
		if err != nil {
			t.Fatal(err)
		}
		url, _ := testutil.Relay(t, &relay.Options{Config: c})
		return shim.RelayTransport(url, nil)
	}
	const listen = `,"listen":{"addresses":["127.0.0.1"],"ports":"20000-20100"}`
	cases := []struct {
		name    string
		tr      shim.Transport
		service string
	}{
		{"relay without a server capability", cfg(`"internetClient"`, listen), "20001"},
		{"relay outside the allowed ports", cfg(`"privateNetworkClientServer"`, listen), "20200"},
		{"relay without listen config", cfg(`"privateNetworkClientServer"`, ""), "20001"},
		{"direct without a server capability", shim.DirectTransport(&shim.DirectOptions{Capabilities: []string{"internetClient"}}), "0"},
		{"direct loopback not exempt", shim.DirectTransport(&shim.DirectOptions{DenyLoopback: true}), "0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := shim.NewStreamSocketListener(c.tr)
			err := l.BindEndpoint(ctxT(t), host(t, "127.0.0.1"), c.service)
			if !errors.Is(err, shim.ErrAccessDenied) {
				l.Close()
				t.Fatalf("BindEndpoint: %v, want ErrAccessDenied", err)
			}
		})
	}
}

// TestHalfCloseStreamSocket: request, CloseWrite, full response read, with a
// real TCP server, through the relay and directly.
func TestHalfCloseStreamSocket(t *testing.T) {
	t.Parallel()
	response := bytes.Repeat([]byte("response "), 100_000)
	srv := testutil.Serve(t, func(c net.Conn) {
		req, _ := io.ReadAll(c)
		c.Write([]byte(strings.ToUpper(string(req))))
		c.Write(response)
	})
	url, _ := testutil.Relay(t, nil)
	for name, tr := range map[string]shim.Transport{
		"relay":  shim.RelayTransport(url, nil),
		"direct": shim.DirectTransport(nil),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := shim.NewStreamSocket(tr)
			if err := s.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(srv.Port)); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.Write([]byte("request"))
			if err := s.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(s)
			if err != nil || !bytes.Equal(b, append([]byte("REQUEST"), response...)) {
				t.Fatalf("read %d bytes, %v", len(b), err)
			}
		})
	}
}

// TestCloseWriteWispV1: a relay session without the extension (Wisp v1)
// keeps full-close behaviour and says so.
func TestCloseWriteWispV1(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	url, _ := testutil.Relay(t, nil)
	s := shim.NewStreamSocket(shim.RelayTransport(url, &shim.RelayOptions{WispV1: true}))
	if err := s.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(echo.Port)); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CloseWrite(); !errors.Is(err, shim.ErrNotSupported) {
		t.Fatalf("CloseWrite over Wisp v1: %v, want ErrNotSupported", err)
	}
	l := shim.NewStreamSocketListener(shim.RelayTransport(url, &shim.RelayOptions{WispV1: true}))
	if err := l.BindServiceName(ctxT(t), ""); !errors.Is(err, shim.ErrNotSupported) {
		t.Fatalf("Bind over Wisp v1: %v, want ErrNotSupported", err)
	}
}
