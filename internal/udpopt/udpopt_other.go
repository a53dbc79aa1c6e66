//go:build !linux

package udpopt

import (
	"fmt"
	"net"
	"syscall"
)

func setDontFragment(c *net.UDPConn, v4 bool, df bool) error {
	if df {
		return fmt.Errorf("don't fragment: %w", ErrNotSupported)
	}
	return nil
}

func reuseAddress(c syscall.RawConn) error {
	return fmt.Errorf("address reuse: %w", ErrNotSupported)
}
