//go:build js

package wasmtest

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil/jsenv"
	"github.com/sockshim/sockshim/shim"
)

// TestListenerFromBrowser binds a StreamSocketListener on the relay from
// the wasm build, connects to it with a real TCP connection (opened by the
// relay for a StreamSocket of the same page), and exchanges data both ways,
// half-close included.
func TestListenerFromBrowser(t *testing.T) {
	url := jsenv.Env(t, "SOCKSHIM_RELAY_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := shim.RelayTransport(url, nil)
	l := shim.NewStreamSocketListener(tr)
	lo, err := shim.NewHostName("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.BindEndpoint(ctx, lo, ""); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info := l.Information()
	if info.LocalPort == "" || info.ReachableHostName == nil {
		t.Fatalf("information %+v", info)
	}

	client := shim.NewStreamSocket(tr)
	if err := client.Connect(ctx, info.ReachableHostName, info.ReachablePort); err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	accepted := conn.(*shim.StreamSocket)

	client.Write([]byte("ping"))
	if err := client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(accepted)
	if err != nil || string(b) != "ping" {
		t.Fatalf("accepted read %q, %v; want ping then EOF", b, err)
	}
	accepted.Write([]byte("pong"))
	accepted.Close()
	b, err = io.ReadAll(client)
	if err != nil || string(b) != "pong" {
		t.Fatalf("client read %q, %v; want pong then EOF", b, err)
	}

	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
}
