//go:build !js

package relay_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wisp"
	"github.com/sockshim/sockshim/relay"
)

// TestUDPConnectedPlainWisp speaks UDP as a plain Wisp v2 client (the
// wisp-js client) does: CONNECT type 0x02, DATA without waiting, no
// CONTINUE for the stream, and each DATA one whole datagram.
func TestUDPConnectedPlainWisp(t *testing.T) {
	t.Parallel()
	echo := testutil.UDPEchoServer(t)
	url, _ := testutil.Relay(t, nil)
	r := rawDial(t, url, true)
	r.c.SetReadLimit(1 << 17)
	r.send(wisp.Append(nil, &wisp.Packet{Type: wisp.TypeConnect, StreamID: 3, StreamType: wisp.StreamUDP, Port: uint16(echo.Port), Host: "127.0.0.1"}))
	sizes := []int{1, 1200, 9000, 65507}
	for _, n := range sizes {
		r.send(wisp.AppendData(nil, 3, bytes.Repeat([]byte{byte(n)}, n)))
	}
	got := map[int]bool{}
	for range sizes {
		p := r.read()
		if p.Type != wisp.TypeData || p.StreamID != 3 {
			t.Fatalf("got %v on %d, want DATA on 3", p.Type, p.StreamID)
		}
		if !bytes.Equal(p.Data, bytes.Repeat([]byte{byte(len(p.Data))}, len(p.Data))) {
			t.Fatalf("datagram of %d bytes was merged or split", len(p.Data))
		}
		got[len(p.Data)] = true
	}
	for _, n := range sizes {
		if !got[n] {
			t.Errorf("no %d-byte datagram back (got %v)", n, got)
		}
	}
}

// TestUDPBound opens a bound socket with BIND and exchanges DATAGRAM
// packets, each carrying the peer.
func TestUDPBound(t *testing.T) {
	t.Parallel()
	echo := testutil.UDPEchoServer(t)
	url, _ := testutil.Relay(t, nil)
	r := rawDial(t, url, true)
	r.send(wisp.AppendBind(nil, 5, wisp.Bind{Local: netip.MustParseAddrPort("127.0.0.1:0")}))
	peer := echo.AddrPort()
	p := r.read()
	o, err := wisp.ParseOpened(p.Data)
	if p.Type != wisp.TypeOpened || err != nil || !o.Local.Addr().IsLoopback() || o.Local.Port() == 0 || o.Remote.Addr().IsValid() {
		t.Fatalf("BIND answered %v %+v %v, want OPENED with the bound address", p.Type, o, err)
	}
	r.send(wisp.AppendDatagram(nil, 5, peer, []byte("ping")))
	p = r.read()
	if p.Type != wisp.TypeDatagram || p.StreamID != 5 {
		t.Fatalf("got %v on %d, want DATAGRAM on 5", p.Type, p.StreamID)
	}
	from, data, err := wisp.ParseDatagram(p.Data)
	if err != nil || from != peer || string(data) != "ping" {
		t.Fatalf("DATAGRAM from %v %q %v, want %v ping", from, data, err, peer)
	}
	// Options are applied and acknowledged.
	r.send(wisp.AppendUDPOptions(nil, 5, wisp.UDPOptions{HopLimit: 4, DontFragment: true, ReceiveBuffer: 1 << 16}))
	p = r.read()
	if req, reason, err := wisp.ParseUDPResult(p.Data); p.Type != wisp.TypeUDPResult || err != nil || req != wisp.TypeUDPOptions || reason != 0 {
		t.Fatalf("options: %v %v %v %v", p.Type, req, reason, err)
	}
	// A host name destination, resolved and checked by the relay.
	b, _ := wisp.AppendDatagramTo(nil, 5, "localhost", peer.Port(), []byte("by name"))
	r.send(b)
	p = r.read()
	if _, data, _ := wisp.ParseDatagram(p.Data); p.Type != wisp.TypeDatagram || string(data) != "by name" {
		t.Fatalf("got %v %q, want DATAGRAM by name", p.Type, data)
	}
}

// TestUDPPolicy: an app without the loopback exemption gets CLOSE 0x48 for
// a connected UDP stream to loopback, and a bound socket's datagram to
// loopback is dropped and reported.
func TestUDPPolicy(t *testing.T) {
	t.Parallel()
	echo := testutil.UDPEchoServer(t)
	cfg := mustParse(`{"apps":[{"id":"a","allowNoOrigin":true,"capabilities":["internetClient","privateNetworkClientServer"]}]}`)
	url, _ := testutil.Relay(t, &relay.Options{Config: cfg})
	r := rawDial(t, url, true)
	r.send(wisp.Append(nil, &wisp.Packet{Type: wisp.TypeConnect, StreamID: 1, StreamType: wisp.StreamUDP, Port: uint16(echo.Port), Host: "127.0.0.1"}))
	if p := r.read(); p.Type != wisp.TypeClose || p.StreamID != 1 || p.Reason != wisp.ReasonBlocked {
		t.Fatalf("got %v on %d (%v), want CLOSE blocked on 1", p.Type, p.StreamID, p.Reason)
	}
	r.send(wisp.AppendBind(nil, 2, wisp.Bind{}))
	r.send(wisp.AppendDatagram(nil, 2, echo.AddrPort(), []byte("x")))
	if p := r.read(); p.Type != wisp.TypeOpened {
		t.Fatalf("BIND answered %v, want OPENED", p.Type)
	}
	p := r.read()
	if req, reason, _ := wisp.ParseUDPResult(p.Data); p.Type != wisp.TypeUDPResult || req != wisp.TypeDatagram || reason != wisp.ReasonBlocked {
		t.Fatalf("got %v %v %v, want UDP_RESULT DATAGRAM blocked", p.Type, req, reason)
	}
}
