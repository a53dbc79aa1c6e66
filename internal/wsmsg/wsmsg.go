// Package wsmsg reads WebSocket messages into a reused buffer.
//
// coder/websocket's Conn.Read returns each message in a new slice grown by
// io.ReadAll: for a 32 KiB Wisp DATA packet that is about seven allocations,
// each zeroed and copied into the next. In the relay's bulk echo profile that
// growth (runtime.growslice, memclrNoHeapPointers) was the largest cost after
// the syscalls themselves. A Reader keeps one buffer per connection instead;
// a caller that must keep a payload past the next Read copies it once, at
// its exact size.
package wsmsg

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/coder/websocket"
)

// initialSize is the first buffer: one full Wisp DATA packet as sockshim
// sends them (64 KiB payload + 5-byte header) fits without growing.
const initialSize = 64<<10 + 64

// Reader reads whole messages from one connection. It is not safe for
// concurrent use (a WebSocket has one reader anyway).
type Reader struct {
	conn *websocket.Conn
	buf  *[]byte
}

// pool holds buffers of initialSize: a Reader's, and those handed out by
// Take until they are Put back.
var pool = sync.Pool{New: func() any {
	b := make([]byte, initialSize)
	return &b
}}

// NewReader returns a Reader for conn. Conn.SetReadLimit still bounds
// each message.
func NewReader(conn *websocket.Conn) *Reader { return &Reader{conn: conn} }

// Read returns the next message. The returned slice is valid only until the
// next call of Read, unless Take hands its buffer over.
func (r *Reader) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	typ, mr, err := r.conn.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	if r.buf == nil {
		r.buf = pool.Get().(*[]byte)
	}
	buf := *r.buf
	n := 0
	for {
		if n == len(buf) {
			grown := make([]byte, 2*len(buf))
			copy(grown, buf)
			buf = grown
			r.buf = &buf // a grown buffer is never pooled
		}
		m, err := mr.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return typ, buf[:n], nil
		}
		if err != nil {
			return 0, nil, err
		}
	}
}

// TakeMin is the smallest payload worth taking a buffer for: a taken
// buffer is pinned while its payload waits, so a small one would pin far
// more memory than it holds.
const TakeMin = initialSize / 2

// Take hands the buffer of the message Read last returned to the caller,
// instead of copying out of it; the next Read uses another buffer. The
// caller gives it back with Put once done with the message.
func (r *Reader) Take() *[]byte {
	b := r.buf
	r.buf = nil
	return b
}

// Put returns a buffer from Take for reuse.
func Put(b *[]byte) {
	if b != nil && len(*b) == initialSize {
		pool.Put(b)
	}
}
