//go:build linux

package e2e

import (
	"net"
	"testing"
	"time"

	"github.com/sockshim/sockshim/internal/testutil/netns"
)

// TestWasmDatagramFirefoxNetns checks Firefox's WebRTC data channel, which
// cannot connect on loopback: without camera or microphone permission
// Firefox gathers ICE candidates only on the default route's address, and it
// never offers a loopback one. So the test runs in a network namespace of its
// own, where one end of a veth pair whose both ends are in that namespace
// (veth0, 10.89.0.1/24) carries the default route, and the relay's WebRTC
// peer gathers on that interface. Everything stays inside the namespace:
// packets to 10.89.0.1 are delivered locally, and any other destination
// reaches only veth1, which has no address and nothing behind it.
func TestWasmDatagramFirefoxNetns(t *testing.T) {
	if !netns.Run(t, 4*time.Minute) {
		return
	}
	netns.IP(t, "link", "set", "lo", "up")
	netns.IP(t, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
	netns.IP(t, "addr", "add", "10.89.0.1/24", "dev", "veth0")
	netns.IP(t, "link", "set", "veth1", "up")
	netns.IP(t, "link", "set", "veth0", "up")
	netns.IP(t, "route", "add", "default", "dev", "veth0")
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 3 {
		t.Fatalf("refusing to run: the namespace has interfaces %v, want only lo, veth0 and veth1", ifs)
	}
	// The wasm test build must not try the module proxy from here.
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOTOOLCHAIN", "local")
	testWasmDatagram(t, "firefox", buildRunner(t)+" -browser=firefox", "veth0", true)
}
