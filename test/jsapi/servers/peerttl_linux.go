package main

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerTTL is the IP TTL of the segment that completed c's handshake: Linux
// keeps it in the accepted socket's multicast TTL (tcp_v4_syn_recv_sock),
// the receiving kernel's view of what the peer (the relay) sent.
func peerTTL(c net.Conn) int {
	ttl := -1
	if rc, err := c.(*net.TCPConn).SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { ttl, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_TTL) })
	}
	return ttl
}
