// Package wsmsg reads WebSocket messages into a reused buffer.
//
// coder/websocket's Conn.Read returns each message in a new slice grown by
// io.ReadAll: for a 32 KiB Wisp DATA packet that is about seven allocations,
// each zeroed and copied into the next. In the relay's bulk echo profile that
// growth (runtime.growslice, memclrNoHeapPointers) was the largest cost after
// the syscalls themselves. A Reader keeps one buffer per connection instead;
// a caller that must keep a payload past the next Read copies it once, at
// its exact size.
//
// In the browser (GOOS=js) the package also is the WebSocket: Conn wraps
// the browser's WebSocket directly instead of coder/websocket's js build,
// which crosses from JavaScript into Go with a js.FuncOf call per message
// event, allocates each message twice (a Go slice, then a Uint8Array) and
// copies it three times. See conn_js.go.
package wsmsg

import "sync"

// initialSize is the first buffer: one full Wisp DATA packet as sockshim
// sends them (64 KiB payload + 5-byte header) fits without growing.
const initialSize = 64<<10 + 64

// Reader reads whole messages from one connection. It is not safe for
// concurrent use (a WebSocket has one reader anyway).
type Reader struct {
	conn *Conn
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
func NewReader(conn *Conn) *Reader { return &Reader{conn: conn} }

// TakeMin is the smallest payload worth taking a buffer for: a taken
// buffer is pinned while its payload waits, so a small one would pin far
// more memory than it holds (at most 4x here). A quarter buffer, 16 KiB,
// so the 32 KiB DATA payloads that a destination's 32 KiB reads produce
// are taken, not copied into a new allocation.
const TakeMin = initialSize / 4

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
