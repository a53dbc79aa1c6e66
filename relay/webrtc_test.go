//go:build !js

package relay_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil"
	"github.com/sockshim/sockshim/internal/wispclient"
	"github.com/sockshim/sockshim/relay"
)

// loopbackRTC is the relay's WebRTC set-up for tests: loopback only, IPv4,
// no mDNS (RECIPES: a native pion peer reachable on loopback).
var loopbackRTC = &relay.WebRTCOptions{Loopback: true, Interfaces: []string{"lo"}, UDP4Only: true}

func waitChannel(t *testing.T, c *wispclient.UDPConn) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !c.ChannelOpen() {
		if time.Now().After(deadline) {
			t.Fatal("the data channel did not open in 15 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// datagram i: an 8-byte header (index, length) and a body of a size that
// varies with i, so merged or split messages cannot pass the check.
func numbered(i int) []byte {
	n := 8 + (i*977)%3000
	b := bytes.Repeat([]byte{byte(i)}, n)
	binary.LittleEndian.PutUint32(b, uint32(i))
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
	return b
}

// checkWhole reads up to count datagrams and checks each is one whole sent
// datagram; it returns how many arrived (the channel may lose some).
func checkWhole(t *testing.T, read func([]byte) (int, error), count int) int {
	t.Helper()
	seen := map[int]bool{}
	readWhole(t, read, seen, count)
	return len(seen)
}

// readWhole reads until n more datagrams are in seen or read fails (its
// deadline: the rest were lost), checking each is one whole sent datagram
// delivered once.
func readWhole(t *testing.T, read func([]byte) (int, error), seen map[int]bool, n int) {
	t.Helper()
	buf := make([]byte, 70000)
	for want := len(seen) + n; len(seen) < want; {
		n, err := read(buf)
		if err != nil {
			return
		}
		if n < 8 {
			t.Fatalf("a %d-byte message: split", n)
		}
		i := int(binary.LittleEndian.Uint32(buf))
		if !bytes.Equal(buf[:n], numbered(i)) {
			t.Fatalf("message %d: %d bytes, want %d: merged or split", i, n, len(numbered(i)))
		}
		if seen[i] {
			t.Fatalf("message %d delivered twice", i)
		}
		seen[i] = true
	}
}

// TestWebRTCDataChannelConnected is the native pion-to-relay test: a
// connected UDP socket whose datagrams move to an unordered,
// maxRetransmits=0 data channel, each message one whole datagram.
func TestWebRTCDataChannelConnected(t *testing.T) {
	t.Parallel()
	echo := testutil.UDPEchoServer(t)
	url, _ := testutil.Relay(t, &relay.Options{WebRTC: loopbackRTC})
	s := dial(t, url, nil)
	c, err := s.DialUDP(ctxT(t), "127.0.0.1", echo.AddrPort().Port())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.UseDataChannel(c)
	waitChannel(t, c)
	// Ten at a time, each window read back before the next is sent: the
	// channel is unreliable by design, but what is measured here is that
	// datagrams travel whole on it, not how many a loaded machine's socket
	// buffers can take in one burst.
	const count, window = 200, 10
	seen := map[int]bool{}
	for base := 0; base < count; base += window {
		for i := base; i < base+window; i++ {
			if _, err := c.Write(numbered(i)); err != nil {
				t.Fatal(err)
			}
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		readWhole(t, c.Read, seen, window)
	}
	got := len(seen)
	if got < count/2 { // unreliable by design; loopback loses little
		t.Errorf("%d of %d datagrams came back", got, count)
	}
	if c.ChannelReceived() == 0 {
		t.Error("no datagram came back on the data channel")
	}
	t.Logf("%d/%d back, %d on the data channel", got, count, c.ChannelReceived())
}

func TestWebRTCDataChannelBound(t *testing.T) {
	t.Parallel()
	echo := testutil.UDPEchoServer(t)
	url, _ := testutil.Relay(t, &relay.Options{WebRTC: loopbackRTC})
	s := dial(t, url, nil)
	c, err := s.BindUDP(ctxT(t), netip.AddrPort{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.UseDataChannel(c)
	waitChannel(t, c)
	for i := range 50 {
		if _, err := c.WriteTo(numbered(i), echo.AddrPort()); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	got := checkWhole(t, func(b []byte) (int, error) {
		n, from, err := c.ReadFrom(b)
		if err == nil && from != echo.AddrPort() {
			t.Errorf("datagram from %v, want %v", from, echo.AddrPort())
		}
		return n, err
	}, 50)
	if got < 45 || c.ChannelReceived() == 0 {
		t.Errorf("%d of 50 back, %d on the channel", got, c.ChannelReceived())
	}
}

// TestWebRTCFallback: with WebRTC off at the relay, the same request
// quietly stays on the WebSocket.
func TestWebRTCFallback(t *testing.T) {
	t.Parallel()
	echo := testutil.UDPEchoServer(t)
	url, _ := testutil.Relay(t, nil)
	s := dial(t, url, nil)
	c, err := s.DialUDP(ctxT(t), "127.0.0.1", echo.AddrPort().Port())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.UseDataChannel(c)
	c.Write(numbered(1))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got := checkWhole(t, c.Read, 1); got != 1 || c.ChannelOpen() {
		t.Fatalf("got %d, channel open %v", got, c.ChannelOpen())
	}
}
