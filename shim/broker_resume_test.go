//go:build !js

package shim_test

import (
	"errors"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/shim"
)

// TestBrokerTransferLeavesResumedSession: with resume on, a transferred
// stream has left its session: after the WebSocket drops and the session
// resumes, the session's other stream goes on, and the transferred one is
// still the broker's, listed and reclaimed through the same transport.
func TestBrokerTransferLeavesResumedSession(t *testing.T) {
	t.Parallel()
	echo := testutil.EchoServer(t)
	peer := testutil.Serve(t, func(c net.Conn) {
		c.Write([]byte("sent before the drop"))
		io.Copy(io.Discard, c)
	})
	direct, srv := testutil.Relay(t, nil) // resume on: the default
	p, url := testutil.NewProxy(t, direct)
	tr := shim.RelayTransport(url, nil)
	kept := echoSocket(t, tr, echo)
	s := shim.NewStreamSocket(tr)
	s.EnableTransferOwnership("")
	if err := s.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(peer.Port)); err != nil {
		t.Fatal(err)
	}
	if err := s.TransferOwnership("away", nil); err != nil {
		t.Fatal(err)
	}
	p.Reset() // the WebSocket drops; the client resumes through the proxy
	waitUntil(t, func() bool { return metric(t, srv, "sockshim_resumes_total") == "1" })
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the transferred socket after the resume: %v, want net.ErrClosed", err)
	}
	if _, err := kept.Write([]byte("still here")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 10)
	if _, err := io.ReadFull(kept, b); err != nil || string(b) != "still here" {
		t.Fatalf("the resumed session's stream read %q, %v", b, err)
	}
	var info *shim.SocketActivityInformation
	waitUntil(t, func() bool {
		info = allSockets(t, tr)["away"]
		return info != nil && info.Buffered == len("sent before the drop")
	})
	r, err := info.StreamSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, len("sent before the drop"))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != "sent before the drop" {
		t.Fatalf("reclaimed %q, %v", got, err)
	}
}
