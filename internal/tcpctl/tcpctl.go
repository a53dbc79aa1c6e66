// Package tcpctl is what StreamSocketControl and StreamSocketInformation
// need from the operating system for one TCP socket: the send buffer and
// hop limit, set before it connects, and its TCP_INFO. The relay and
// DirectTransport share it, so both honour the options the same way.
package tcpctl

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Options are a socket's options; zero fields keep the system default.
type Options struct {
	SendBuffer int // SO_SNDBUF, bytes
	HopLimit   int // IP_TTL (IPv4) or IPV6_UNICAST_HOPS (IPv6), 1-255
}

// ErrNotSupported is wrapped by every error for an option or a figure this
// platform cannot give.
var ErrNotSupported = fmt.Errorf("tcpctl: %w", errors.ErrUnsupported)

// Control returns a function for net.Dialer.Control that sets o on the
// socket before it connects (so the SYN already carries the hop limit), or
// nil when o is the defaults.
func (o Options) Control() func(network, address string, c syscall.RawConn) error {
	if o == (Options{}) {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = o.set(fd, network) }); err != nil {
			return err
		}
		return serr
	}
}

// SetConn sets o on a connected socket (an accepted connection), choosing
// IP_TTL or IPV6_UNICAST_HOPS by the peer's address family, which is right
// for a dual-stack listener's IPv4 peers too. A c without a socket (not a
// syscall.Conn) is left as it is.
func (o Options) SetConn(c net.Conn) error {
	f := o.Control()
	sc, ok := c.(syscall.Conn)
	if f == nil || !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	network := "tcp6"
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok && a.IP.To4() != nil {
		network = "tcp4"
	}
	return f(network, c.RemoteAddr().String(), rc)
}

// Info is one reading of a connection's TCP_INFO (Linux), with its send
// buffer as getsockopt(SO_SNDBUF) reports it (Linux doubles what was set,
// for its bookkeeping).
type Info struct {
	RTT, RTTVar, MinRTT uint32 // µs: smoothed RTT, its variation, the minimum seen (0: unknown)
	DeliveryRate        uint64 // bytes/s, the kernel's estimate of what the path delivers (0: unknown)
	AppLimited          bool   // the delivery rate sample was limited by the sender, not the path
	BytesAcked          uint64 // sent and acknowledged by the peer
	BytesReceived       uint64 // received from the peer
	SendBuffer          uint32
}

// Read reads c's TCP_INFO; c must be a *net.TCPConn (or wrap one with
// SyscallConn).
func Read(c net.Conn) (Info, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return Info{}, fmt.Errorf("tcpctl: %T has no socket: %w", c, ErrNotSupported)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return Info{}, err
	}
	var info Info
	var rerr error
	if err := rc.Control(func(fd uintptr) { info, rerr = read(fd) }); err != nil {
		return Info{}, err
	}
	return info, rerr
}
