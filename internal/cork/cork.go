// Package cork coalesces the writes of WebSocket frames into fewer syscalls.
//
// coder/websocket writes each message through a 4 KiB bufio.Writer and
// flushes it per message: a 32 KiB message costs two write syscalls on a
// server and eight on a client (which masks the payload 4 KiB at a time).
// On loopback the syscalls were most of the relay's and the client's CPU.
//
// A Conn sits under the WebSocket. Between Cork and Uncork, writes are
// copied into one buffer; the last Uncork writes it with a single syscall.
// Corks nest and may come from many goroutines at once (group commit):
// while one goroutine holds a cork, frames written by the others are
// coalesced with its own, and the last one out flushes them all. Data is
// never held once no cork is held, so nothing waits for a timer.
package cork

import (
	"net"
	"sync"
)

// MaxBuffer is how many bytes a Conn buffers before it writes them out even
// while corked, so a burst of frames cannot grow memory without bound.
const MaxBuffer = 256 << 10

// bufPool holds the buffers: a Conn owns one only while corked writes are
// pending, so an idle connection holds none.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 64<<10)
	return &b
}}

// Conn is a net.Conn whose writes can be corked. Reads and every other
// method go straight to the wrapped connection.
type Conn struct {
	net.Conn

	mu    sync.Mutex
	corks int
	open  bool // Open was called: nothing is held back any more
	buf   *[]byte
	err   error // the first failed write; every later write fails with it
}

// New wraps c.
func New(c net.Conn) *Conn { return &Conn{Conn: c} }

// Cork starts holding writes back; every Cork needs one Uncork.
func (c *Conn) Cork() {
	c.mu.Lock()
	c.corks++
	c.mu.Unlock()
}

// Uncork releases one cork. The last one writes out what was held and
// returns that write's error.
func (c *Conn) Uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corks--
	if c.corks > 0 {
		return c.err
	}
	return c.flushLocked()
}

// Write writes p, or only copies it while a cork is held.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.corks == 0 || c.open {
		// Nothing is held back while no cork is: write in order, now.
		n, err := c.Conn.Write(p)
		if err != nil {
			c.err = err
		}
		return n, err
	}
	if c.buf == nil {
		c.buf = bufPool.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= MaxBuffer {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Open writes out what is held and stops holding anything back from now on,
// whatever corks are held. Call it before a close handshake: a writer
// holding a cork can be blocked until the connection closes (a WebSocket
// write waits for the close handshake to finish), and the close frame
// written meanwhile must reach the peer, or the handshake waits on itself.
func (c *Conn) Open() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open = true
	return c.flushLocked()
}

// flushLocked writes the held bytes and returns the buffer to the pool.
func (c *Conn) flushLocked() error {
	if c.buf == nil {
		return c.err
	}
	b := *c.buf
	if len(b) > 0 && c.err == nil {
		if _, err := c.Conn.Write(b); err != nil {
			c.err = err
		}
	}
	if cap(b) <= 4*MaxBuffer {
		*c.buf = b[:0]
		bufPool.Put(c.buf)
	}
	c.buf = nil
	return c.err
}
