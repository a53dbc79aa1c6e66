package shim_test

// These tests need no server, so they also run compiled to wasm (Node and
// Chromium, `make test-wasm-node test-wasm-browser`).

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/sockshim/sockshim/shim"
)

// TestDialerAddressErrors: what net.Dial refuses, the Dialer refuses before
// touching the transport, with a *net.OpError wrapping a *shim.SocketError.
func TestDialerAddressErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		network, address string
		want             error
		msg              string
	}{
		{"tcp", "127.0.0.1", shim.ErrInvalidArgument, "missing port"},
		{"tcp", "::1:80", shim.ErrInvalidArgument, "too many colons"},
		{"tcp", "[::1:80", shim.ErrInvalidArgument, "missing ']'"},
		{"tcp", "127.0.0.1:70000", shim.ErrInvalidArgument, "70000"},
		{"tcp", "127.0.0.1:0", shim.ErrInvalidArgument, "port 1-65535"},
		{"tcp", "127.0.0.1:no-such-service-here", shim.ErrInvalidArgument, "no-such-service-here"},
		{"tcp", "127.1:80", shim.ErrInvalidArgument, "127.1"},
		{"tcp", "bad host!:80", shim.ErrInvalidArgument, ""},
		{"tcp", "[fe80::1%eth0]:80", shim.ErrNotSupported, "zones"},
		{"unix", "/tmp/x.sock", shim.ErrNotSupported, `network "unix"`},
		{"ip4:icmp", "127.0.0.1", shim.ErrNotSupported, ""},
		{"tcp4", "[::1]:80", shim.ErrInvalidArgument, "IPv6"},
		{"tcp6", "127.0.0.1:80", shim.ErrInvalidArgument, "IPv4"},
		{"udp4", "[::1]:53", shim.ErrInvalidArgument, "IPv6"},
		{"udp6", "127.0.0.1:53", shim.ErrInvalidArgument, "IPv4"},
	}
	for _, c := range cases {
		conn, err := new(shim.Dialer).DialContext(context.Background(), c.network, c.address)
		if err == nil {
			conn.Close()
			t.Errorf("Dial(%q, %q) succeeded", c.network, c.address)
			continue
		}
		checkOpError(t, err, "dial", c.network)
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Dial(%q, %q) = %v, want errors.Is %v", c.network, c.address, err, c.want)
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Dial(%q, %q) = %q, want it to mention %q", c.network, c.address, err, c.msg)
		}
	}
}

func checkOpError(t *testing.T, err error, op, network string) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != op || oe.Net != network {
		t.Errorf("%v (%T): want a *net.OpError with Op %q, Net %q", err, err, op, network)
	}
	var se *shim.SocketError
	if !errors.As(err, &se) {
		t.Errorf("%v: no *shim.SocketError inside", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) {
		t.Errorf("%v: not a net.Error", err)
	}
}

// TestDialerUDPRefusesTLS: there is no DTLS, so a UDP dial that asks for
// TLS fails instead of sending plain text.
func TestDialerUDPRefusesTLS(t *testing.T) {
	t.Parallel()
	d := &shim.Dialer{ProtectionLevel: shim.ProtectionLevelSsl}
	_, err := d.Dial("udp", "127.0.0.1:53")
	if !errors.Is(err, shim.ErrNotSupported) {
		t.Fatalf("UDP dial with TLS: %v, want ErrNotSupported", err)
	}
	checkOpError(t, err, "dial", "udp")
}

// TestDialerControlError: an error from Control fails the dial, unchanged
// inside the OpError, before anything is opened.
func TestDialerControlError(t *testing.T) {
	t.Parallel()
	refuse := errors.New("refused by Control")
	var gotNet, gotAddr string
	d := &shim.Dialer{Control: func(network, address string, c *shim.StreamSocketControl) error {
		gotNet, gotAddr = network, address
		return refuse
	}}
	_, err := d.Dial("tcp", "127.0.0.1:1")
	if !errors.Is(err, refuse) || gotNet != "tcp" || gotAddr != "127.0.0.1:1" {
		t.Fatalf("Dial = %v; Control saw %q %q", err, gotNet, gotAddr)
	}
	checkOpError(t, err, "dial", "tcp")
	d = &shim.Dialer{DatagramControl: func(string, string, *shim.DatagramSocketControl) error { return refuse }}
	if _, err := d.Dial("udp", "127.0.0.1:1"); !errors.Is(err, refuse) {
		t.Fatalf("UDP Dial = %v, want the DatagramControl error", err)
	}
}

// TestListenAddressErrors: Listen and ListenPacket take only their own
// networks and net.Listen's address forms.
func TestListenAddressErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		packet           bool
		network, address string
		want             error
	}{
		{false, "udp", "127.0.0.1:0", shim.ErrInvalidArgument},
		{true, "tcp", "127.0.0.1:0", shim.ErrInvalidArgument},
		{false, "tcp", "127.0.0.1", shim.ErrInvalidArgument},
		{false, "tcp", "example.com:0", shim.ErrInvalidArgument},
		{false, "tcp4", "[::1]:0", shim.ErrInvalidArgument},
		{true, "udp6", "127.0.0.1:0", shim.ErrInvalidArgument},
		{false, "unix", "/tmp/s", shim.ErrNotSupported},
	} {
		var err error
		if c.packet {
			var pc net.PacketConn
			if pc, err = shim.ListenPacket(ctx, c.network, c.address); err == nil {
				pc.Close()
			}
		} else {
			var l net.Listener
			if l, err = shim.Listen(ctx, c.network, c.address); err == nil {
				l.Close()
			}
		}
		if err == nil {
			t.Errorf("listen %q %q succeeded", c.network, c.address)
			continue
		}
		checkOpError(t, err, "listen", c.network)
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("listen %q %q = %v, want errors.Is %v", c.network, c.address, err, c.want)
		}
	}
}
