package udpopt

import (
	"net"
	"syscall"
)

func setDontFragment(c *net.UDPConn, v4 bool, df bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	level, opt, val := syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, syscall.IP_PMTUDISC_WANT
	if !v4 {
		level, opt, val = syscall.IPPROTO_IPV6, syscall.IPV6_MTU_DISCOVER, syscall.IP_PMTUDISC_WANT
	}
	if df {
		val = syscall.IP_PMTUDISC_DO
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), level, opt, val)
		if !v4 && serr == nil {
			// A dual-stack socket sends IPv4 too.
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, val)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func reuseAddress(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
