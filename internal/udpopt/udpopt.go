// Package udpopt applies DatagramSocket options to operating-system UDP
// sockets, for the relay and for the shim's direct transport alike: hop
// limit and multicast membership with golang.org/x/net/ipv4 and ipv6,
// don't-fragment and address reuse with socket options.
package udpopt

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Maximum UDP payloads: 65535 minus the IPv4 (20) or IPv6 (40) header and
// the UDP header (8), IPv6 without jumbograms.
const (
	MaxPayload4 = 65507
	MaxPayload6 = 65527
)

// ErrNotSupported is wrapped when an option has no implementation on this
// operating system.
var ErrNotSupported = errors.New("not supported on this operating system")

// Options are the settable options of a UDP socket. Zero values keep the
// system defaults.
type Options struct {
	HopLimit      int  // unicast TTL / hop limit, 1-255; 0 = default
	DontFragment  bool // set DF; datagrams over the path MTU fail with EMSGSIZE
	ReceiveBuffer int  // SO_RCVBUF in bytes; 0 = default
}

func is4(c *net.UDPConn) bool {
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return ap.Addr().Unmap().Is4()
}

// Apply sets o on c.
func Apply(c *net.UDPConn, o Options) error {
	if o.HopLimit < 0 || o.HopLimit > 255 {
		return fmt.Errorf("udpopt: hop limit %d outside 0-255", o.HopLimit)
	}
	if o.HopLimit > 0 {
		var err error
		if is4(c) {
			err = ipv4.NewConn(c).SetTTL(o.HopLimit)
		} else {
			err = ipv6.NewConn(c).SetHopLimit(o.HopLimit)
			ipv4.NewConn(c).SetTTL(o.HopLimit) // dual-stack socket: best effort for IPv4 peers
		}
		if err != nil {
			return fmt.Errorf("udpopt: hop limit: %w", err)
		}
	}
	if o.ReceiveBuffer > 0 {
		if err := c.SetReadBuffer(o.ReceiveBuffer); err != nil {
			return fmt.Errorf("udpopt: receive buffer: %w", err)
		}
	}
	if err := setDontFragment(c, is4(c), o.DontFragment); err != nil {
		return fmt.Errorf("udpopt: don't fragment: %w", err)
	}
	return nil
}

// Join joins c to a multicast group on the system's default interface.
func Join(c *net.UDPConn, group netip.Addr) error {
	if !group.IsMulticast() {
		return fmt.Errorf("udpopt: %v is not a multicast address", group)
	}
	g := &net.UDPAddr{IP: group.AsSlice()}
	var err error
	if group.Is4() {
		err = ipv4.NewPacketConn(c).JoinGroup(nil, g)
	} else {
		err = ipv6.NewPacketConn(c).JoinGroup(nil, g)
	}
	if err != nil {
		return fmt.Errorf("udpopt: join %v: %w", group, err)
	}
	return nil
}

// ReuseAddress is a net.ListenConfig Control function setting SO_REUSEADDR,
// so several sockets can bind one multicast port.
func ReuseAddress(network, address string, c syscall.RawConn) error {
	return reuseAddress(c)
}

// MaxPayload is the largest datagram to ap's family.
func MaxPayload(ap netip.AddrPort) int {
	if ap.Addr().Unmap().Is4() {
		return MaxPayload4
	}
	return MaxPayload6
}
