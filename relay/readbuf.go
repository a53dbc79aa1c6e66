package relay

import (
	"bytes"
	"sync"

	"github.com/sockshim/sockshim/internal/wisp"
)

// bufSize is one pooled buffer: a DATA header plus readBufSize.
const bufSize = wisp.HeaderLen + readBufSize

type buffer = [bufSize]byte

// bufPool holds the relay's stream buffers, for both directions:
//   - toClient reads destination data into one. A stream takes it only once
//     its connection has something to read, and gives it back when a read
//     finds the socket empty or the client's window is shut, so an idle
//     stream holds no buffer (10,000 idle streams would otherwise pin
//     640 MiB once their buffers have been touched).
//   - client payloads the destination did not take at once are copied into
//     one (copyData) until the pump has written them (releaseData).
var bufPool = sync.Pool{New: func() any { return new(buffer) }}

// copyData copies a client payload that must wait for the pump.
func copyData(b []byte) []byte {
	if len(b) > bufSize {
		return bytes.Clone(b)
	}
	return append(bufPool.Get().(*buffer)[:0], b...)
}

// releaseData returns copyData's buffer to the pool once written. A larger
// payload's clone has a larger capacity, so it is never taken for one.
func releaseData(b []byte) {
	if cap(b) == bufSize {
		bufPool.Put((*buffer)(b[:bufSize]))
	}
}
