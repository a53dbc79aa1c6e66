//go:build !js

package relay

import (
	"io"
	"net"
	"os"
	"syscall"

	"github.com/sockshim/sockshim/internal/wisp"
)

// rawSock does what a blocking net.Conn cannot: read into a buffer taken
// only once data is there (an idle stream holds none while it waits), and
// write without blocking. Connections that are not sockets (an injected
// dialer's) have none; their streams keep a read buffer and write through
// the pump.
//
// One goroutine reads (toClient) and one writes (the session reader) at a
// time; each has its own fields, and the syscall callbacks are bound once
// so that a read or write allocates nothing.
type rawSock struct {
	rc syscall.RawConn

	rbuf   *buffer // read: the buffer, from bufPool, or nil
	rwant  int
	rn     int
	rerr   error
	readFn func(fd uintptr) bool

	wb      []byte
	wn      int
	werr    error
	writeFn func(fd uintptr) bool
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
	w.readFn = w.doRead
	w.writeFn = w.doWrite
	return w
}

// doRead runs under RawConn.Read: the buffer is taken just before the read
// syscall and given back when the socket has nothing (EAGAIN), before the
// goroutine parks. The EAGAIN read itself arms the wait, as in net.Conn.
func (w *rawSock) doRead(fd uintptr) bool {
	if w.rbuf == nil {
		w.rbuf = bufPool.Get().(*buffer)
	}
	for {
		w.rn, w.rerr = syscall.Read(int(fd), w.rbuf[wisp.HeaderLen:wisp.HeaderLen+w.rwant])
		if w.rerr != syscall.EINTR {
			break
		}
	}
	if w.rerr == syscall.EAGAIN {
		bufPool.Put(w.rbuf)
		w.rbuf = nil
		return false
	}
	return true
}

// read reads up to want bytes into buf()[wisp.HeaderLen:]. The buffer stays
// held after a read that returned data and is released while waiting.
func (w *rawSock) read(want int) (int, error) {
	w.rwant = want
	if err := w.rc.Read(w.readFn); err != nil {
		return 0, err
	}
	switch {
	case w.rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", w.rerr)}
	case w.rn == 0 && want > 0:
		return 0, io.EOF
	}
	return w.rn, nil
}

// buf is the read buffer, valid after read returned data.
func (w *rawSock) buf() []byte { return w.rbuf[:] }

// take hands the read buffer, valid after read returned data, over to the
// caller; the next read takes another from bufPool.
func (w *rawSock) take() *buffer {
	b := w.rbuf
	w.rbuf = nil
	return b
}

// release gives the read buffer back, if held.
func (w *rawSock) release() {
	if w.rbuf != nil {
		bufPool.Put(w.rbuf)
		w.rbuf = nil
	}
}

func (w *rawSock) doWrite(fd uintptr) bool {
	for {
		w.wn, w.werr = syscall.Write(int(fd), w.wb)
		if w.werr != syscall.EINTR {
			return true
		}
	}
}

// tryWrite writes what the socket buffer takes of b now, never waiting:
// n < len(b) with a nil error means the rest must wait for the pump.
func (w *rawSock) tryWrite(b []byte) (int, error) {
	w.wb = b
	cerr := w.rc.Write(w.writeFn)
	w.wb = nil
	switch {
	case cerr != nil:
		return 0, cerr
	case w.werr == syscall.EAGAIN:
		return 0, nil
	case w.werr != nil:
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", w.werr)}
	}
	return w.wn, nil
}
