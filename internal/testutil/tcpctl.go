//go:build linux

package testutil

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Unresponsive binds a listener at ip:port whose accept queue is full, so
// the kernel drops every further SYN: a connect there hangs until it times
// out, as to a host that does not answer, while staying on loopback. It
// returns false if ip:port cannot be bound (taken).
func Unresponsive(t testing.TB, ip netip.Addr, port uint16) bool {
	t.Helper()
	family, sa := syscall.AF_INET, syscall.Sockaddr(&syscall.SockaddrInet4{Port: int(port), Addr: ip.As4()})
	if ip.Is6() {
		family, sa = syscall.AF_INET6, &syscall.SockaddrInet6{Port: int(port), Addr: ip.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return false
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	// With a backlog of 0 the queue holds one connection; fill it, then
	// check that the next connect hangs.
	addr := netip.AddrPortFrom(ip, port).String()
	filler, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("filling the accept queue of %s: %v", addr, err)
	}
	t.Cleanup(func() { filler.Close() })
	if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections with a full queue", addr)
	}
	return true
}

// HopLimitServer starts a TCP server on ip (127.0.0.1 or ::1) that reports,
// for each connection, the IP TTL (IPv6: hop limit) the peer's packets
// carried, as the receiving kernel saw it: Linux stores the TTL of the
// segment that completed the handshake in the accepted socket's multicast
// TTL (tcp_v4_syn_recv_sock: mc_ttl; IPv6: mcast_hops), which getsockopt
// then reads. Loopback never decrements it, so it is what the dialer set.
// Each connection is echoed until the peer closes.
func HopLimitServer(t testing.TB, ip string) (*net.TCPAddr, <-chan int) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan int, 16)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ttl := -1
			if rc, err := c.(*net.TCPConn).SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) {
					if netip.MustParseAddr(ip).Is4() {
						ttl, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_TTL)
					} else {
						ttl, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS)
					}
				})
			}
			select {
			case seen <- ttl:
			default:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						c.Write(buf[:n])
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr), seen
}

// HungAndLive returns one port on two loopback addresses: first
// 127.0.0.2, where nothing answers a SYN (Unresponsive), then 127.0.0.1,
// where an echo server runs. A dial that tries them in that order reaches
// the server only if it does not wait for the first.
func HungAndLive(t testing.TB) (hung, live netip.AddrPort) {
	return HungThenLive(t, "127.0.0.2", "127.0.0.1")
}

// HungThenLive is HungAndLive on the given addresses: an echo server on
// liveIP (HopLimitServer's), and at the same port on hungIP a listener
// that never answers.
func HungThenLive(t testing.TB, hungIP, liveIP string) (hung, live netip.AddrPort) {
	t.Helper()
	for range 20 {
		good, _ := HopLimitServer(t, liveIP)
		ip := netip.MustParseAddr(hungIP)
		if Unresponsive(t, ip, uint16(good.Port)) {
			return netip.AddrPortFrom(ip, uint16(good.Port)), good.AddrPort()
		}
	}
	t.Fatalf("no port free on both %s and %s", hungIP, liveIP)
	return
}
