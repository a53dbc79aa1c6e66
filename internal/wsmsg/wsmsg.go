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

	"github.com/coder/websocket"
)

// initialSize is the first buffer: one full Wisp DATA packet as sockshim
// sends them (64 KiB payload + 5-byte header) fits without growing.
const initialSize = 64<<10 + 64

// Reader reads whole messages from one connection. It is not safe for
// concurrent use (a WebSocket has one reader anyway).
type Reader struct {
	conn *websocket.Conn
	buf  []byte
}

// NewReader returns a Reader for conn. Conn.SetReadLimit still bounds
// each message.
func NewReader(conn *websocket.Conn) *Reader { return &Reader{conn: conn} }

// Read returns the next message. The returned slice is valid only until the
// next call of Read.
func (r *Reader) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	typ, mr, err := r.conn.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	if r.buf == nil {
		r.buf = make([]byte, initialSize)
	}
	n := 0
	for {
		if n == len(r.buf) {
			grown := make([]byte, 2*len(r.buf))
			copy(grown, r.buf)
			r.buf = grown
		}
		m, err := mr.Read(r.buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return typ, r.buf[:n], nil
		}
		if err != nil {
			return 0, nil, err
		}
	}
}
