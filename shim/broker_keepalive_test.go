//go:build !js

package shim_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// TestBrokerKeepAliveRenewsLease: with a 2 s lease, a socket transferred
// without a keep-alive time is released at its lease's end, while one with
// a 1 s keep-alive time is kept by its ticks past it, up to the app's
// 6 s maxLeaseSeconds, and is then released too. Nothing lists the sockets
// meanwhile (a LIST would renew both leases).
func TestBrokerKeepAliveRenewsLease(t *testing.T) {
	t.Parallel()
	plainPeer, plainEnded := heldPeer(t)
	keptPeer, keptEnded := heldPeer(t)
	_, _, url, srv := brokerRelay(t, relay.BrokerConfig{TTLSeconds: 2, MaxLeaseSeconds: 6})
	tr := shim.RelayTransport(url, nil)

	start := time.Now()
	if err := transferNew(t, tr, plainPeer, "plain"); err != nil {
		t.Fatal(err)
	}
	if err := transferNewOpts(t, tr, keptPeer, "kept", &shim.TransferOptions{KeepAliveTime: time.Second}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-plainEnded:
	case <-keptEnded:
		t.Fatalf("the keep-alive socket was released first, %v after its transfer", time.Since(start))
	case <-time.After(30 * time.Second):
		t.Fatal("the plain socket outlived its 2 s lease")
	}
	plainAt := time.Since(start)
	select {
	case <-keptEnded:
	case <-time.After(60 * time.Second):
		t.Fatal("the keep-alive socket outlived maxLeaseSeconds")
	}
	keptAt := time.Since(start)
	// Without renewals it would have ended with the plain one (2 s); the
	// cap is 6 s after the transfer.
	if keptAt < 5*time.Second {
		t.Fatalf("keep-alive socket released %v after its transfer (plain: %v); the ticks did not renew its 2 s lease up to the 6 s cap", keptAt, plainAt)
	}
	waitUntil(t, func() bool { return metric(t, srv, "sockshim_broker_expired_total") == "2" })
}

func transferNewOpts(t *testing.T, tr shim.Transport, peer *net.TCPAddr, id string, o *shim.TransferOptions) error {
	t.Helper()
	s := shim.NewStreamSocket(tr)
	t.Cleanup(func() { s.Close() })
	if err := s.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(peer.Port)); err != nil {
		t.Fatal(err)
	}
	s.EnableTransferOwnership("")
	return s.TransferOwnership(id, o)
}
