//go:build !js

package relay

import (
	"net"
	"syscall"
)

// readWaiter waits for a connection to become readable without reading
// from it (and so without a buffer). Connections that are not sockets (an
// injected dialer's) have no waiter; their streams keep a buffer.
type readWaiter struct {
	rc    syscall.RawConn
	ready func(fd uintptr) bool
}

func newReadWaiter(c net.Conn) *readWaiter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &readWaiter{rc: rc}
	var peek [1]byte
	// A read would not block when a non-blocking peek finds data, EOF or an
	// error; only EAGAIN means wait. Peeking first matters: the poller
	// reports edges, and data that arrived before the wait would not wake it.
	w.ready = func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN && err != syscall.EINTR
	}
	return w
}

// wait blocks until a Read would return at once. An error (the connection
// was closed) is left for that Read to report.
func (w *readWaiter) wait() { w.rc.Read(w.ready) }
