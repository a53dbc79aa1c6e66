//go:build !js

package shim_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sockshim/sockshim/relay"
	"github.com/sockshim/sockshim/shim"
)

// udpPeer is a UDP socket on 127.0.0.1 standing for the remote end.
func udpPeer(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openHeldDatagram opens a bound or connected DatagramSocket on tr that
// has sent one datagram to peer, and returns it with the relay's address
// (where the peer sends back).
func openHeldDatagram(t *testing.T, tr shim.Transport, peer *net.UDPConn, connected bool) (*shim.DatagramSocket, *net.UDPAddr) {
	t.Helper()
	d := shim.NewDatagramSocket(tr)
	t.Cleanup(func() { d.Close() })
	pa := peer.LocalAddr().(*net.UDPAddr)
	if connected {
		if err := d.Connect(ctxT(t), host(t, "127.0.0.1"), strconv.Itoa(pa.Port)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := d.BindEndpoint(ctxT(t), host(t, "127.0.0.1"), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := d.WriteTo([]byte("hi"), pa); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 16)
	peer.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, relayAddr, err := peer.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	return d, relayAddr
}

// TestBrokerDatagramSurvivesReload: a bound and a connected DatagramSocket
// are transferred (one datagram possibly still unread in the client); the
// tab goes away; the peer sends 40 datagrams while nobody is there; a new
// transport lists the socket (kind DatagramSocket, reason SocketActivity,
// every byte buffered), reclaims it on the same relay port and reads every
// datagram in order, then sends and receives live.
func TestBrokerDatagramSurvivesReload(t *testing.T) {
	t.Parallel()
	for _, connected := range []bool{false, true} {
		t.Run(fmt.Sprintf("connected=%v", connected), func(t *testing.T) {
			t.Parallel()
			_, proxy, url, srv := brokerRelay(t, relay.BrokerConfig{})
			peer := udpPeer(t)
			tab := shim.RelayTransport(url, nil)
			d, relayAddr := openHeldDatagram(t, tab, peer, connected)
			localPort := d.Information().LocalPort

			// Sent before the transfer: in the client or at the relay when
			// it happens, either way it must come first.
			want := sha256.New()
			send := func(i int) {
				b := []byte(fmt.Sprintf("datagram %03d %0500d", i, i))
				want.Write(b)
				if _, err := peer.WriteToUDP(b, relayAddr); err != nil {
					t.Fatal(err)
				}
			}
			send(0)
			total := 0
			for i := 0; i <= 40; i++ {
				total += len(fmt.Sprintf("datagram %03d %0500d", i, i))
			}
			d.EnableTransferOwnership("udp-task")
			if err := d.TransferOwnership("dns", &shim.TransferOptions{Context: []byte("u")}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := d.ReadFrom(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("ReadFrom after TransferOwnership: %v, want net.ErrClosed", err)
			}
			closeTab(t, proxy, srv)
			for i := 1; i <= 40; i++ {
				send(i)
			}

			page := shim.RelayTransport(url, nil)
			var info *shim.SocketActivityInformation
			waitUntil(t, func() bool {
				info = allSockets(t, page)["dns"]
				return info != nil && info.Buffered == total
			})
			if info.SocketKind != shim.SocketActivityKindDatagramSocket || info.Reason != shim.TriggerReasonSocketActivity ||
				info.TaskID != "udp-task" || string(info.Context) != "u" {
				t.Fatalf("AllSockets: %+v", info)
			}
			if _, err := info.StreamSocket(); err == nil {
				t.Fatal("a datagram socket reclaimed as a StreamSocket")
			}
			r, err := info.DatagramSocket()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := r.Information().LocalPort; got != localPort {
				t.Fatalf("reclaimed on port %s, was %s", got, localPort)
			}
			got := sha256.New()
			buf := make([]byte, 2048)
			r.SetReadDeadline(time.Now().Add(30 * time.Second))
			for i := 0; i <= 40; i++ {
				n, from, err := r.ReadFrom(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if want := fmt.Sprintf("datagram %03d ", i); string(buf[:len(want)]) != want {
					t.Fatalf("datagram %d reads %.14q: out of order", i, buf[:n])
				}
				if from.String() != peer.LocalAddr().String() {
					t.Fatalf("datagram %d from %v, want %v", i, from, peer.LocalAddr())
				}
				got.Write(buf[:n])
			}
			if [32]byte(got.Sum(nil)) != [32]byte(want.Sum(nil)) {
				t.Fatal("sha256 of the reclaimed datagrams differs from what the peer sent")
			}
			if got := metric(t, srv, "sockshim_broker_held_bytes"); got != "0" {
				t.Errorf("sockshim_broker_held_bytes = %s after the reclaim", got)
			}
			// Live both ways on the reclaimed socket.
			if connected {
				_, err = r.Write([]byte("live"))
			} else {
				_, err = r.WriteTo([]byte("live"), peer.LocalAddr())
			}
			if err != nil {
				t.Fatal(err)
			}
			n, _, err := peer.ReadFromUDP(buf)
			if err != nil || string(buf[:n]) != "live" {
				t.Fatalf("peer read %q, %v from the reclaimed socket", buf[:n], err)
			}
			peer.WriteToUDP([]byte("back"), relayAddr)
			if n, err := r.Read(buf); err != nil || string(buf[:n]) != "back" {
				t.Fatalf("reclaimed socket read %q, %v", buf[:n], err)
			}
		})
	}
}

// TestBrokerDatagramDropsPastBound: UDP cannot be pushed back, so past the
// per-socket bound the broker drops datagrams and counts them; the ones it
// kept are the first, in order.
func TestBrokerDatagramDropsPastBound(t *testing.T) {
	t.Parallel()
	_, proxy, url, srv := brokerRelay(t, relay.BrokerConfig{MaxBytesPerSocket: 10 * 1000})
	peer := udpPeer(t)
	d, relayAddr := openHeldDatagram(t, shim.RelayTransport(url, nil), peer, false)
	d.EnableTransferOwnership("")
	if err := d.TransferOwnership("bounded", nil); err != nil {
		t.Fatal(err)
	}
	closeTab(t, proxy, srv)
	for i := range 30 {
		b := make([]byte, 1000)
		b[0] = byte(i)
		if _, err := peer.WriteToUDP(b, relayAddr); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { return metric(t, srv, "sockshim_broker_dropped_datagrams_total") == "20" })
	page := shim.RelayTransport(url, nil)
	info := allSockets(t, page)["bounded"]
	if info == nil || info.Buffered != 10*1000 {
		t.Fatalf("AllSockets: %+v, want 10000 bytes held", info)
	}
	r, err := info.DatagramSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 2000)
	r.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := range 10 {
		n, _, err := r.ReadFrom(buf)
		if err != nil || n != 1000 || buf[0] != byte(i) {
			t.Fatalf("held datagram %d: %d bytes starting %d, %v", i, n, buf[0], err)
		}
	}
	// After the kept ones, the live socket: the next datagram is new.
	peer.WriteToUDP([]byte{0xff}, relayAddr)
	if n, _, err := r.ReadFrom(buf); err != nil || n != 1 || buf[0] != 0xff {
		t.Fatalf("after the held datagrams read %d bytes %x, %v; want the live one", n, buf[:n], err)
	}
}
