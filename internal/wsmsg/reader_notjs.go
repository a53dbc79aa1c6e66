//go:build !js

package wsmsg

import (
	"context"
	"errors"
	"io"

	"github.com/coder/websocket"
)

// Conn is the WebSocket a Reader reads: coder/websocket's natively; in the
// browser, this package's own (conn_js.go).
type Conn = websocket.Conn

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
