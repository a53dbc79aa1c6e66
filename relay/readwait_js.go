package relay

import "net"

// readWaiter is nil on js: no raw sockets, so streams keep their buffer.
type readWaiter struct{}

func newReadWaiter(net.Conn) *readWaiter { return nil }

func (w *readWaiter) wait() {}
