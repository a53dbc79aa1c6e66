//go:build !js

package shim_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

func ExampleStreamSocket() {
	// A loopback echo server stands in for a real service.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, _ := ln.Accept()
		io.Copy(c, c)
		c.Close()
	}()

	host, _ := shim.NewHostName("127.0.0.1")
	s := new(shim.StreamSocket) // DefaultTransport: OS sockets natively, the page's relay in a browser
	defer s.Close()
	if err := s.Connect(context.Background(), host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)); err != nil {
		if errors.Is(err, shim.ErrAccessDenied) {
			log.Fatal("the app lacks the capability: ", err)
		}
		log.Fatal(shim.GetStatus(err), err)
	}
	s.Write([]byte("hello"))
	buf := make([]byte, 5)
	io.ReadFull(s, buf)
	fmt.Println(string(buf))
	// Output: hello
}

func ExampleGetStatus() {
	host, _ := shim.NewHostName("127.0.0.1")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // nothing listens there now

	err := new(shim.StreamSocket).Connect(context.Background(), host, port)
	fmt.Println(shim.GetStatus(err))
	// Output: ConnectionRefused
}

func ExampleHostName() {
	for _, name := range []string{"Bücher.Example.", "127.0.0.1", "[2001:DB8::1]"} {
		h, err := shim.NewHostName(name)
		if err != nil {
			log.Fatal(err)
		}
		// CanonicalName is what goes on the wire; DisplayName keeps a
		// name as written (an address is always shown canonical).
		fmt.Println(h.Type(), h.CanonicalName(), h.DisplayName())
	}
	// Numeric forms other than the canonical dotted quad never pass.
	_, err := shim.NewHostName("127.1")
	fmt.Println(errors.Is(err, shim.ErrInvalidArgument))
	// Output:
	// DomainName xn--bcher-kva.example Bücher.Example.
	// Ipv4 127.0.0.1 127.0.0.1
	// Ipv6 2001:db8::1 2001:db8::1
	// true
}

func ExampleDatagramSocket() {
	// A loopback UDP echo server stands in for a real service.
	echo, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer echo.Close()
	go func() {
		buf := make([]byte, 1500)
		n, from, _ := echo.ReadFrom(buf)
		echo.WriteTo(buf[:n], from)
	}()

	ctx := context.Background()
	host, _ := shim.NewHostName("127.0.0.1")
	s := shim.NewDatagramSocket(nil) // DefaultTransport
	defer s.Close()
	got := make(chan string, 1)
	s.SetMessageReceived(func(m *shim.DatagramSocketMessageReceivedEventArgs) {
		got <- string(m.Data)
	})
	if err := s.Connect(ctx, host, strconv.Itoa(echo.LocalAddr().(*net.UDPAddr).Port)); err != nil {
		log.Fatal(err)
	}
	s.Write([]byte("ping")) // one Write, one datagram
	fmt.Println(<-got)
	// Output: ping
}

func ExampleStreamSocketListener() {
	ctx := context.Background()
	local, _ := shim.NewHostName("127.0.0.1")
	l := shim.NewStreamSocketListener(nil)
	l.ConnectionReceived = func(_ *shim.StreamSocketListener, s *shim.StreamSocket) {
		defer s.Close()
		io.Copy(s, s) // echo until the peer closes
	}
	if err := l.BindEndpoint(ctx, local, ""); err != nil { // "": any free port
		log.Fatal(err)
	}
	defer l.Close()

	c := new(shim.StreamSocket)
	defer c.Close()
	if err := c.Connect(ctx, local, l.Information().LocalPort); err != nil {
		log.Fatal(err)
	}
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	io.ReadFull(c, buf)
	fmt.Println(string(buf))
	// Output: hello
}

func ExampleRelayTransport() {
	// A relay on loopback, configured as cmd/relay's config file would be:
	// one app with a credential that may reach loopback but not listen.
	cfg, err := relay.ParseConfig([]byte(`{"apps": [{
		"id": "myapp", "secret": "from-the-relay-config", "allowNoOrigin": true,
		"capabilities": ["internetClient"], "loopbackExempt": true}]}`))
	if err != nil {
		log.Fatal(err)
	}
	srv := relay.New(&relay.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	relayURL := "ws" + strings.TrimPrefix(hs.URL, "http") + "/wisp/"

	// A loopback echo server stands in for a real service.
	echo, _ := net.Listen("tcp", "127.0.0.1:0")
	defer echo.Close()
	go func() {
		c, _ := echo.Accept()
		io.Copy(c, c)
		c.Close()
	}()

	ctx := context.Background()
	t := shim.RelayTransport(relayURL, &shim.RelayOptions{AppID: "myapp", Secret: "from-the-relay-config"})
	defer t.Close() // ends the session and its goroutines
	host, _ := shim.NewHostName("127.0.0.1")
	s := shim.NewStreamSocket(t)
	defer s.Close()
	if err := s.Connect(ctx, host, strconv.Itoa(echo.Addr().(*net.TCPAddr).Port)); err != nil {
		log.Fatal(err)
	}
	s.Write([]byte("through the relay"))
	buf := make([]byte, len("through the relay"))
	io.ReadFull(s, buf)
	fmt.Println(string(buf))

	// The relay enforces the app's capabilities: internetClient cannot listen.
	err = shim.NewStreamSocketListener(t).BindEndpoint(ctx, host, "")
	fmt.Println(errors.Is(err, shim.ErrAccessDenied))
	// Output:
	// through the relay
	// true
}
