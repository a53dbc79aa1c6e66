//go:build js

// Package wasmtest holds the browser-side end-to-end tests. They run under
// GOOS=js GOARCH=wasm, in Node or headless Chromium, started by the native
// harness in internal/e2e, which passes the servers in SOCKSHIM_* variables.
package wasmtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/sockshim/sockshim/internal/testutil/jsenv"
	"github.com/sockshim/sockshim/shim"
)

func connect(t *testing.T, tr shim.Transport, addr string) *shim.StreamSocket {
	t.Helper()
	h, p := jsenv.HostPort(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := shim.NewStreamSocket(tr)
	if err := s.Connect(ctx, h, p); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStreamSocketEcho(t *testing.T) {
	tr := shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_RELAY_URL"), nil)
	s := connect(t, tr, jsenv.Env(t, "SOCKSHIM_ECHO_ADDR"))
	defer s.Close()
	want := bytes.Repeat([]byte("browser!"), 64<<10) // 512 KiB: several credit rounds
	go s.Write(want)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("echoed bytes differ")
	}
	if info := s.Information(); info.RemoteAddress == nil || info.RemotePort == "" {
		t.Fatalf("no remote endpoint in Information: %+v", info)
	}
}

func TestStreamSocketErrors(t *testing.T) {
	tr := shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_RELAY_URL"), nil)
	h, p := jsenv.HostPort(t, jsenv.Env(t, "SOCKSHIM_CLOSED_ADDR"))
	err := shim.NewStreamSocket(tr).Connect(context.Background(), h, p)
	if got := shim.GetStatus(err); got != shim.SocketErrorConnectionRefused {
		t.Fatalf("closed port: %v (status %v), want ConnectionRefused", err, got)
	}
	denied := shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_DENY_RELAY_URL"), nil)
	h, p = jsenv.HostPort(t, jsenv.Env(t, "SOCKSHIM_ECHO_ADDR"))
	if err := shim.NewStreamSocket(denied).Connect(context.Background(), h, p); !errors.Is(err, shim.ErrAccessDenied) {
		t.Fatalf("loopback without exemption: %v, want ErrAccessDenied", err)
	}
	if err := shim.NewStreamSocket(shim.DirectTransport(nil)).Connect(context.Background(), h, p); !errors.Is(err, shim.ErrNotSupported) {
		t.Fatalf("direct sockets in wasm: %v, want ErrNotSupported", err)
	}
}

// TestConnConformance runs x/net's net.Conn suite inside the browser: both
// ends are StreamSockets through the relay, spliced by a pair server.
func TestConnConformance(t *testing.T) {
	tr := shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_RELAY_URL"), nil)
	pair := jsenv.Env(t, "SOCKSHIM_PAIR_ADDR")
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		c1 := connect(t, tr, pair)
		c2 := connect(t, tr, pair)
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

func TestDefaultTransport(t *testing.T) {
	want := "direct" // Node has no page origin to derive a relay from
	if origin := os.Getenv("SOCKSHIM_PAGE_ORIGIN"); origin != "" {
		want = "relay ws://" + strings.TrimPrefix(origin, "http://") + "/wisp/"
	}
	if got := shim.DefaultTransport.String(); got != want {
		t.Fatalf("DefaultTransport = %q, want %q", got, want)
	}
}
