//go:build !js

// Package testutil starts the real servers tests run against: TCP servers
// on 127.0.0.1 and an in-process relay on a loopback HTTP server.
package testutil

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockshim/sockshim/relay"
)

// EchoServer starts a TCP echo server on 127.0.0.1 and returns its address.
func EchoServer(t testing.TB) *net.TCPAddr {
	t.Helper()
	return Serve(t, func(c net.Conn) { io.Copy(c, c) })
}

// Serve starts a TCP server on 127.0.0.1 running handle for each
// connection (which it closes afterwards) until the test ends.
func Serve(t testing.TB, handle func(net.Conn)) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

// ClosedPort returns a loopback TCP address with nothing listening, which
// stays so until the test ends: the port is held by a bound socket that
// never listens (connects to it are refused), and the socket has no
// SO_REUSEADDR, so no other test's listener can take the port meanwhile.
func ClosedPort(t testing.TB) *net.TCPAddr {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}
}

// Relay starts a relay with opts (nil Config means relay.DevConfig()) on a
// loopback HTTP server and returns its Wisp URL (ws://127.0.0.1:port/wisp/).
func Relay(t testing.TB, opts *relay.Options) (string, *relay.Server) {
	t.Helper()
	var o relay.Options
	if opts != nil {
		o = *opts
	}
	if o.Config == nil {
		o.Config = relay.DevConfig()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := relay.New(&o)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("relay shutdown: %v", err)
		}
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/wisp/", srv
}

// PairServer starts a TCP server on 127.0.0.1 that splices each two
// consecutive connections to each other, so two clients (say, two browser
// sockets through a relay) can be the two ends of one pipe.
func PairServer(t testing.TB) *net.TCPAddr {
	t.Helper()
	var mu sync.Mutex
	var waiting net.Conn
	var waitDone chan struct{}
	return Serve(t, func(c net.Conn) {
		mu.Lock()
		if waiting == nil {
			waiting, waitDone = c, make(chan struct{})
			done := waitDone
			mu.Unlock()
			<-done // keep c open until its peer is finished
			return
		}
		peer, done := waiting, waitDone
		waiting, waitDone = nil, nil
		mu.Unlock()
		defer close(done)
		go func() {
			io.Copy(peer, c)
			closeWrite(peer)
		}()
		io.Copy(c, peer)
		closeWrite(c)
	})
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// Pipe is a net.Conn pair for nettest.TestConn: dial gets the port of a
// fresh loopback listener and returns the client end; the other end is the
// connection the listener accepted.
func Pipe(dial func(port string) (net.Conn, error)) (c1, c2 net.Conn, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c1, err = dial(strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		return nil, nil, nil, err
	}
	select {
	case c2 = <-accepted:
	case <-time.After(10 * time.Second):
		c1.Close()
		return nil, nil, nil, errors.New("the client never reached the listener")
	}
	if c2 == nil {
		c1.Close()
		return nil, nil, nil, errors.New("accept failed")
	}
	return c1, c2, func() { c1.Close(); c2.Close() }, nil
}
