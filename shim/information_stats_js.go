package shim

import (
	"net"
	"time"
)

// osSample: a browser has no sockets of its own; only a relay's
// connections report statistics.
func osSample(net.Conn, time.Time) (tcpSample, error) {
	return tcpSample{}, errf("TCP statistics of a %s: %w", "connection without a relay", ErrNotSupported)
}
