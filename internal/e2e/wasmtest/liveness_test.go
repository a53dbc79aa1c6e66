//go:build js

package wasmtest

import (
	"errors"
	"io"
	"syscall/js"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil/jsenv"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/shim"
)

// TestDeadRelayNoticed: in a browser (no WebSocket pings from JS) a relay
// whose network went silent is noticed within PeerTimeout through
// sockshim's PING/PONG, and the socket fails with ConnectionTimedOut.
func TestDeadRelayNoticed(t *testing.T) {
	// Long enough that a loaded machine's pauses do not look like a dead
	// relay: the live session below must survive 2*timeout of idleness.
	const timeout = 5 * time.Second
	tr := shim.RelayTransport(jsenv.Env(t, "SOCKSHIM_BLACKHOLE_RELAY_URL"), &shim.RelayOptions{PeerTimeout: timeout})
	s := connect(t, tr, jsenv.Env(t, "SOCKSHIM_ECHO_ADDR"))
	defer s.Close()
	if _, err := s.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	// Idle past PeerTimeout: PONGs keep the live session up.
	time.Sleep(2 * timeout)
	if _, err := s.Write([]byte("hi")); err != nil {
		t.Fatalf("an idle session to a live relay ended: %v", err)
	}
	if _, err := io.ReadFull(s, make([]byte, 2)); err != nil {
		t.Fatalf("an idle session to a live relay ended: %v", err)
	}
	if err := fetch(jsenv.Env(t, "SOCKSHIM_BLACKHOLE_CTL")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := s.Read(make([]byte, 1))
	took := time.Since(start)
	if shim.GetStatus(err) != shim.SocketErrorConnectionTimedOut || !errors.Is(err, wispclient.ErrPeerTimeout) {
		t.Fatalf("Read after the network went silent: %v (status %v), want ConnectionTimedOut from ErrPeerTimeout", err, shim.GetStatus(err))
	}
	if took > timeout+5*time.Second {
		t.Errorf("noticed after %v, PeerTimeout %v", took, timeout)
	}
}

// fetch GETs url with the JS fetch API (Go's net/http has no fetch under
// Node).
func fetch(url string) error {
	done := make(chan error, 1)
	ok := js.FuncOf(func(js.Value, []js.Value) any { done <- nil; return nil })
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- errors.New("fetch " + url + ": " + args[0].Call("toString").String())
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	js.Global().Call("fetch", url).Call("then", ok, fail)
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		return errors.New("fetch " + url + ": no answer in 20 s")
	}
}
