//go:build !js

package relay

import (
	"net"
	"syscall"
)

// rawSock does what a blocking net.Conn cannot: wait for readability
// without reading (and so without a buffer), and write without blocking.
// Connections that are not sockets (an injected dialer's) have none; their
// streams keep a read buffer and write through the pump.
type rawSock struct {
	rc    syscall.RawConn
	ready func(fd uintptr) bool
}

func newRawSock(c net.Conn) *rawSock {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &rawSock{rc: rc}
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
func (w *rawSock) wait() { w.rc.Read(w.ready) }

// tryWrite writes what the socket buffer takes of b now, never waiting:
// n < len(b) with a nil error means the rest must wait for the pump.
func (w *rawSock) tryWrite(b []byte) (n int, err error) {
	cerr := w.rc.Write(func(fd uintptr) bool {
		n, err = syscall.Write(int(fd), b)
		return true
	})
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return 0, nil
	case err != nil:
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: err}
	case cerr != nil:
		return 0, cerr
	}
	return n, nil
}
