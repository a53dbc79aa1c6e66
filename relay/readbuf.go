package relay

import (
	"sync"

	"github.com/sockshim/sockshim/internal/wisp"
)

// readBufPool holds the buffers toClient reads destination data into:
// header room plus readBufSize. A stream takes one only once its
// connection has something to read, and gives it back when a read finds the
// socket empty or the client's window is shut, so an idle stream holds no
// buffer (10,000 idle streams would otherwise pin 640 MiB once their
// buffers have been touched).
var readBufPool = sync.Pool{New: func() any {
	b := make([]byte, wisp.HeaderLen+readBufSize)
	return &b
}}
